// Building the page with DOM calls only: user-provided text is always a text node, never HTML.

/** `h("a", {href: "/x", onclick}, "text", child)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An SVG element (charts). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  for (const child of children.flat()) if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** A short message at the bottom of the screen (screen readers hear it too). */
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = kind;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.textContent = ""; box.className = ""; }, 6000);
}

/** Runs `action`; an error becomes a visible message instead of being lost. */
export async function attempt(action, done) {
  try {
    const result = await action();
    if (done) toast(done);
    return result;
  } catch (err) {
    toast(err.message || String(err), "error");
    return undefined;
  }
}

export function size(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let n = bytes, i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

/**
 * A modal dialog (the native <dialog>: focus stays inside, Escape closes). `build(close)`
 * returns its content; the promise resolves with what `close(value)` was given.
 */
export function modal(title, build) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": title });
    let result = null;
    const close = (value = null) => { result = value; dialog.close(); };
    dialog.append(h("header", {}, h("h2", {}, title),
      h("button", { type: "button", class: "icon", "aria-label": "Close", onclick: () => close() }, "✕")), build(close));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks for one line of text; null when cancelled. `problem` says what was wrong with the
 * last answer (shown above the field, which keeps what was typed). */
export function ask(title, label, value = "", submit = "OK", problem = "") {
  return modal(title, (close) => {
    const input = h("input", { name: "value", value, required: true, autofocus: true, "aria-invalid": problem ? "true" : null });
    const f = h("form", { class: "stack" }, problem ? h("p", { class: "error", role: "alert" }, problem) : null, h("label", {}, label, input),
      h("div", { class: "row end" }, h("button", { type: "button", onclick: () => close() }, "Cancel"),
        h("button", { class: "primary", type: "submit" }, submit)));
    f.addEventListener("submit", (e) => { e.preventDefault(); close(input.value.trim() || null); });
    queueMicrotask(() => { input.focus(); const dot = value.lastIndexOf("."); input.setSelectionRange(0, dot > 0 ? dot : value.length); });
    return f;
  });
}

/** Asks a yes/no question; true when confirmed. */
export function confirmed(title, text, yes = "Delete") {
  return modal(title, (close) => h("div", { class: "stack" }, h("p", {}, text),
    h("div", { class: "row end" }, h("button", { type: "button", onclick: () => close(false) }, "Cancel"),
      h("button", { type: "button", class: "danger", autofocus: true, onclick: () => close(true) }, yes)))).then(Boolean);
}

/** A table with a header row; `empty` fills it when there are no rows. Scrolls sideways on
 * narrow screens. */
export function table(head, rows, empty) {
  // Focusable, so a keyboard can scroll it too.
  return h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": `Table: ${head.map((t) => (typeof t === "string" ? t : t.getAttribute?.("aria-label") || "")).join(", ")}` }, h("table", { class: "files" }, h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: head.length, class: "muted empty" }, empty)))));
}

/** A labelled input. */
export function field(label, attrs) {
  return h("label", {}, label, h(attrs.type === "select" ? "select" : "input", attrs));
}

/** Reads a form into an object of strings. */
export function values(form) {
  return Object.fromEntries(new FormData(form));
}

/** A form whose submit runs `action(values)`; errors are shown in it. */
export function form(fields, submit, action) {
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { class: "primary", type: "submit" }, submit);
  const f = h("form", { class: "stack" }, ...fields, error, button);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      await action(values(f), f);
    } catch (err) {
      error.textContent = err.message || String(err);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

/** A file's kind for previews and icons, from its name. */
export function kindOf(name) {
  const ext = (name.split(".").pop() || "").toLowerCase();
  if (["png", "jpg", "jpeg", "gif", "webp", "avif", "bmp"].includes(ext)) return "image";
  if (["mp4", "webm", "mov", "m4v", "ogv"].includes(ext)) return "video";
  if (["mp3", "wav", "ogg", "oga", "m4a", "flac", "opus", "aac"].includes(ext)) return "audio";
  if (ext === "pdf") return "pdf";
  if (["txt", "md", "csv", "json", "log", "xml", "yml", "yaml", "toml", "ini", "js", "ts", "rs", "py", "go", "c", "h", "css", "html", "sh", "sql"].includes(ext)) return "text";
  return "other";
}

// Icons drawn here (24 × 24, stroked in the text's colour), so no emoji font is needed.
const SVG = "http://www.w3.org/2000/svg";
const PATHS = {
  folder: "M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z",
  file: "M6 3h8l4 4v14H6z M14 3v4h4",
  image: "M4 5h16v14H4z M4 16l5-5 4 4 3-3 4 4 M15.5 9.5h.01",
  video: "M3 6h13v12H3z M16 10l5-3v10l-5-3",
  audio: "M9 17V5l10-2v12 M9 17a3 3 0 1 1-3-3 3 3 0 0 1 3 3z M19 15a3 3 0 1 1-3-3 3 3 0 0 1 3 3z",
  pdf: "M6 3h8l4 4v14H6z M14 3v4h4 M9 12h6 M9 16h4",
  text: "M6 3h8l4 4v14H6z M14 3v4h4 M9 11h6 M9 14h6 M9 17h6",
};

/** The icon of a node's kind, as an SVG element (hidden from screen readers: the name says it). */
export function icon(node) {
  const type = kindOf(node.name);
  const kind = node.kind === "folder" ? "folder" : PATHS[type] ? type : "file";
  const svg = document.createElementNS(SVG, "svg");
  for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", class: `glyph glyph-${kind}`, "aria-hidden": "true", focusable: "false" })) svg.setAttribute(k, v);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[kind]);
  svg.append(path);
  return svg;
}
