// A long list drawn a window at a time: only the entries near the screen are in the page, a
// spacer above and below standing in for the rest, so a folder of 100,000 entries costs the
// browser what one of a hundred does. Lines are measured from what is drawn (a line of a grid
// holds several cards); entries past the loaded ones are asked for as the window nears them.

/**
 * `box` holds the drawn entries (a `tbody` or a `ul`); `entries` is the caller's array, which
 * only grows between `reset`s; `total()` is how many entries the list will hold; `draw(i)`
 * makes entry i's element; `spacer()` makes an empty element of the box's kind; `more()` loads
 * the next entries into `entries` (and resolves false when there are none); `failed(err)` hears
 * of a page that could not be loaded, after which no more are asked for until a `reset`.
 */
export function windowed({ box, entries, total, draw, spacer, more, failed = () => {}, overscan = 6 }) {
  const top = spacer();
  const bottom = spacer();
  let from = 0;
  let drawn = []; // the elements of entries [from, from + drawn.length)
  let line = 0; // a line's height, gap included
  let gap = 0;
  let perLine = 1;
  let loading = null;
  let exhausted = false;
  let shown = false;
  // After a reset the drawn rows are stale; they keep their place (and the page its height, so
  // the scroll position holds) until the new ones replace them.
  let stale = false;

  const place = (el, lines) => {
    el.hidden = lines <= 0;
    el.style.height = `${Math.max(0, lines * line - gap)}px`;
  };

  function measure() {
    if (!drawn.length) return;
    const first = drawn[0].getBoundingClientRect();
    let n = 1;
    while (n < drawn.length && Math.abs(drawn[n].getBoundingClientRect().top - first.top) < 1) n++;
    // Cards per line are known once a second line is drawn (a last, short line says nothing).
    if (n < drawn.length) {
      perLine = n;
      line = drawn[n].getBoundingClientRect().top - first.top;
      gap = Math.max(0, line - first.height);
    } else if (!line) {
      perLine = n;
      line = first.height;
    }
  }

  /** Draws entries [start, end), keeping the elements already drawn there (and the focus). */
  function drawRange(start, end) {
    const to = from + drawn.length;
    if (stale || start >= to || end <= from || !drawn.length) {
      stale = false;
      drawn.forEach((el) => el.remove());
      drawn = [];
      for (let i = start; i < end; i++) drawn.push(draw(i));
      top.after(...drawn);
    } else {
      for (const el of drawn.slice(0, Math.max(0, start - from))) el.remove();
      for (const el of drawn.slice(Math.max(0, end - from))) el.remove();
      drawn = drawn.slice(Math.max(0, start - from), Math.max(0, end - from));
      const before = [];
      for (let i = start; i < Math.max(start, from); i++) before.push(draw(i));
      const after = [];
      for (let i = Math.max(to, start); i < end; i++) after.push(draw(i));
      top.after(...before);
      bottom.before(...after);
      drawn = [...before, ...drawn, ...after];
    }
    from = start;
  }

  function update() {
    if (!document.contains(box)) {
      if (shown) stop(); // the user went elsewhere
      return;
    }
    shown = true;
    const n = entries.length;
    if (!n) {
      if (stale) drawRange(0, 0);
      return;
    }
    if (!box.contains(top)) box.replaceChildren(top, bottom);
    if (!line && n) {
      drawRange(0, Math.min(n, 60));
      measure();
    }
    if (!line) return drawRange(0, n);
    measure(); // a resize may have changed the cards per line
    const rect = top.hidden ? box.getBoundingClientRect() : top.getBoundingClientRect();
    const firstLine = Math.max(0, Math.floor(-rect.top / line) - overscan);
    const lastLine = Math.ceil((innerHeight - rect.top) / line) + overscan;
    const lastLoadedLine = Math.max(0, Math.ceil(n / perLine) - 1);
    const start = Math.min(firstLine, lastLoadedLine) * perLine;
    const end = Math.min(n, lastLine * perLine);
    drawRange(start, Math.max(start, end));
    measure();
    place(top, start / perLine);
    place(bottom, Math.ceil(Math.max(total(), n) / perLine) - Math.ceil((from + drawn.length) / perLine));
    if (lastLine * perLine + overscan * perLine >= n && !exhausted && !loading) {
      next().then(update, (err) => { exhausted = true; failed(err); });
    }
  }

  /** The next page, one at a time. */
  function next() {
    loading = more().then((got) => { exhausted = got === false; }).finally(() => { loading = null; });
    return loading;
  }

  let frame = 0;
  const schedule = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; update(); }); };
  addEventListener("scroll", schedule, { passive: true });
  addEventListener("resize", schedule);
  function stop() {
    removeEventListener("scroll", schedule);
    removeEventListener("resize", schedule);
  }

  return {
    update,
    /** The list is not shown after all (its view failed): it stops listening. */
    stop,
    /** The entries were replaced (a reload): draw them afresh. */
    reset() {
      stale = true;
      exhausted = false;
      update();
    },
    /** Loads every entry (for "select all"). */
    async loadAll() {
      exhausted = false;
      while (!exhausted) await (loading || next());
      update();
    },
    /** Entry i's element, drawn (and scrolled to) first if it was not. */
    element(i) {
      if (i < from || i >= from + drawn.length) {
        const y = (top.hidden ? box : top).getBoundingClientRect().top + scrollY + Math.floor(i / perLine) * line;
        scrollTo({ top: Math.max(0, y - innerHeight / 2) });
        update();
      }
      return drawn[i - from];
    },
    /** The elements drawn now, with their entries' indices. */
    drawn: () => drawn.map((el, k) => [from + k, el]),
  };
}
