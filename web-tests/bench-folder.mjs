// How the file browser copes with large folders, measured in Chromium against a real server (a
// benchmark prints figures; it asserts nothing): for folders of 5,000 and 100,000 entries, the
// time from opening the folder until its first rows and its count are on screen, the frame
// times while scrolling through it, and the time "Select all" takes to select every entry.
//   cargo build --release && node web-tests/run.mjs target/release/stratus bench-folder.mjs
import { signedIn } from "./bench-page.mjs";

const BATCH = 5000; // files in one multipart request (the server's largest batch)

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

export default async function bench(base) {
  const { browser, page } = await signedIn(base, { width: 1366, height: 850 });
  try {
    for (const entries of [5_000, 100_000]) {
      const made = Date.now();
      const folder = await page.evaluate(async ({ entries, BATCH }) => {
        const { api } = await import("/assets/api.js");
        const me = await api("GET", "/me");
        const folder = await api("POST", `/nodes/${me.root_id}/children`, { name: `${entries} entries`, kind: "folder" });
        for (let at = 0; at < entries; at += BATCH) {
          const form = new FormData();
          for (let i = at; i < Math.min(entries, at + BATCH); i++) form.append("file", new Blob([`${i}`]), `file-${String(i).padStart(6, "0")}.txt`);
          await api("POST", `/nodes/${folder.id}/files`, form);
        }
        return folder.id;
      }, { entries, BATCH });
      const filled = (Date.now() - made) / 1000;

      // Usable: the first rows and the count drawn, measured from the start of navigation.
      const opened = [];
      for (let round = 0; round < 3; round++) {
        await page.goto(`${base}/files/${folder}`);
        await page.waitForSelector(`.head .count:text('${entries.toLocaleString("en-US")} items')`);
        await page.waitForSelector("tbody tr[data-id]");
        opened.push(await page.evaluate(() => performance.now()));
      }
      opened.sort((a, b) => a - b);
      // Where the server's part goes: the first page (200, with the folder's count) against a
      // later page of the same size (no count), medians of 5.
      const server = await page.evaluate(async (folder) => {
        const timed = async (query) => {
          const runs = [];
          for (let i = 0; i < 5; i++) {
            const t = performance.now();
            await (await fetch(`/api/v1/nodes/${folder}/children?${query}`)).json();
            runs.push(performance.now() - t);
          }
          return runs.sort((a, b) => a - b)[2];
        };
        const first = await (await fetch(`/api/v1/nodes/${folder}/children?limit=200`)).json();
        return { first: await timed("limit=200"), later: await timed(`limit=200&cursor=${encodeURIComponent(first.next_cursor)}`) };
      }, folder);

      // Scrolling: 300 frames of 2,000 px each (about 40 rows a frame); the list loads what it
      // nears as it goes. Frame times are requestAnimationFrame's gaps.
      const scroll = await page.evaluate(() => new Promise((done) => {
        const gaps = [];
        let last = performance.now();
        let frames = 0;
        const step = (now) => {
          gaps.push(now - last);
          last = now;
          scrollBy(0, 2000);
          if (++frames < 300) requestAnimationFrame(step);
          else done({ gaps, rows: document.querySelectorAll("tbody tr[data-id]").length, y: scrollY });
        };
        requestAnimationFrame(step);
      }));
      const gaps = scroll.gaps.slice(1).sort((a, b) => a - b);

      // Select all: every entry, loading those not loaded yet.
      await page.goto(`${base}/files/${folder}`);
      await page.waitForSelector("tbody tr[data-id]");
      const started = Date.now();
      await page.check("input[aria-label='Select all']");
      await page.waitForSelector(`.selection >> text=All ${entries.toLocaleString("en-US")} selected`, { timeout: 300_000 });
      const selectAll = (Date.now() - started) / 1000;
      const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
      await page.click(".selection button:text('Clear')");

      console.log(`${entries.toLocaleString("en-US")} entries (made in ${filled.toFixed(1)} s):`);
      console.log(`  usable after ${opened[1].toFixed(0)} ms (median of 3; min ${opened[0].toFixed(0)}, max ${opened[2].toFixed(0)})`);
      console.log(`  the first page of 200 with the count: ${server.first.toFixed(1)} ms; a later page of 200: ${server.later.toFixed(1)} ms`);
      console.log(`  scrolling 300 frames: p50 ${percentile(gaps, 50).toFixed(1)} ms, p95 ${percentile(gaps, 95).toFixed(1)} ms, max ${gaps[gaps.length - 1].toFixed(1)} ms; `
        + `${gaps.filter((g) => g > 50).length} frames over 50 ms; ${scroll.rows} rows drawn at the end (scrolled ${scroll.y.toFixed(0)} px)`);
      console.log(`  select all: ${selectAll.toFixed(2)} s; JS heap after ${(heap / 1048576).toFixed(0)} MiB`);
    }
  } finally {
    await browser.close();
  }
}
