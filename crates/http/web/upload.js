// Uploads from the browser: files and whole folders, a progress bar per file and overall,
// cancel, and resume. Files larger than one block go through the block-negotiation API: the
// browser hashes its 4 MiB blocks, the server answers which it lacks, only those are sent
// (three at a time), then the upload is committed. The session id is kept in localStorage,
// so "Resume" (even after a reload) sends only the blocks that did not arrive. A file whose
// name is taken is never replaced unasked: the user chooses Replace (a new version; the older
// one stays under Versions), Keep both (`name (1).ext`) or Skip, once or for the whole upload.

import { api, send, trail, ApiError } from "/assets/api.js";
import { h, modal, size, toast } from "/assets/dom.js";

const BLOCK = 4 * 1024 * 1024;
const PARALLEL = 3;
const FILES_AT_ONCE = 4;
// Uploads that were under way when the page went (a reload, a closed tab): picking the same
// file again in the same folder resumes them, sending only the blocks that did not arrive.
const PENDING = "stratus-pending-uploads";

// The block uploads this page is sending now (not unfinished: under way).
const sending = new Set();

/** The unfinished block uploads into folder `parent`: `{ key, name, size }` each. */
export function pendingIn(parent) {
  return Object.entries(pendingAll()).filter(([key, p]) => p.parent === parent && !sending.has(key)).map(([key, p]) => ({ key, ...p }));
}

/** Gives an unfinished upload up: its server-side session goes (and its reserved quota). */
export async function forgetPending(key) {
  const saved = localStorage.getItem(key);
  localStorage.removeItem(key);
  setPending(key, null);
  if (saved) await api("DELETE", `/uploads/${saved}`).catch(() => {});
}
function pendingAll() {
  try { return JSON.parse(localStorage.getItem(PENDING)) || {}; } catch { return {}; }
}
function setPending(key, value) {
  const all = pendingAll();
  if (value) all[key] = value; else delete all[key];
  localStorage.setItem(PENDING, JSON.stringify(all));
}

// Leaving the page while bytes are still going asks first.
let running = 0;
addEventListener("beforeunload", (e) => { if (running) { e.preventDefault(); e.returnValue = ""; } });

/** Every file under a dropped entry, with its path relative to the drop. */
export async function walk(entry, prefix = "") {
  if (entry.isFile) return [[await new Promise((ok, ko) => entry.file(ok, ko)), prefix + entry.name]];
  const reader = entry.createReader();
  const children = [];
  for (;;) {
    const batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
    if (!batch.length) break;
    children.push(...batch);
  }
  return (await Promise.all(children.map((c) => walk(c, `${prefix}${entry.name}/`)))).flat();
}

/** The files of a drop event, folders walked. */
export async function dropped(event) {
  const entries = [...event.dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length) return (await Promise.all(entries.map((en) => walk(en)))).flat();
  return [...event.dataTransfer.files].map((f) => [f, f.name]);
}

async function hex(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One file's upload: whole or in blocks; `cancel()` stops it, calling it again resumes. */
class Transfer {
  constructor(parent, file, name, onProgress) {
    // `fail` until the user says what to do about a name that is taken.
    Object.assign(this, { parent, file, name, onProgress, jobs: new Set(), cancelled: false, policy: "fail" });
  }

  /** Where the block session's id waits for a resume: the same file to the same place. */
  get key() {
    return `stratus-upload:${this.parent}:${this.name}:${this.file.size}:${this.file.lastModified}`;
  }

  cancel() {
    this.cancelled = true;
    for (const job of this.jobs) job.cancel();
  }

  async whole() {
    this.cancelled = false;
    const url = `/api/v1/nodes/${this.parent}/files/${encodeURIComponent(this.name)}?on_conflict=${this.policy}`;
    const job = send("PUT", url, this.file, (loaded) => this.onProgress(loaded));
    this.jobs.add(job);
    try { return await job.done; } finally { this.jobs.delete(job); }
  }

  async session(status) {
    const saved = localStorage.getItem(this.key);
    if (saved) {
      const known = await api("GET", `/uploads/${saved}`).catch(() => null);
      if (known) return known;
    }
    const blocks = [];
    for (let at = 0; at < this.file.size; at += BLOCK) {
      if (this.cancelled) throw new ApiError(0, { code: "cancelled", detail: "cancelled" });
      status(`checking ${Math.round((100 * at) / this.file.size)} %`);
      blocks.push(await hex(await this.file.slice(at, at + BLOCK).arrayBuffer()));
    }
    status("");
    const started = await api("POST", "/uploads", { parent_id: this.parent, name: this.name, size: this.file.size, blocks, on_conflict: this.policy });
    localStorage.setItem(this.key, started.upload_id);
    setPending(this.key, { parent: this.parent, name: this.name, size: this.file.size });
    return started;
  }

  async inBlocks(status = () => {}) {
    this.cancelled = false;
    sending.add(this.key);
    try { return await this.sendBlocks(status); } finally { sending.delete(this.key); }
  }

  async sendBlocks(status) {
    const session = await this.session(status);
    const id = session.upload_id;
    const blockSize = (i) => Math.min(BLOCK, this.file.size - i * BLOCK);
    const present = this.file.size - session.missing.reduce((s, i) => s + blockSize(i), 0);
    const sent = new Map();
    const report = () => this.onProgress(present + [...sent.values()].reduce((a, b) => a + b, 0));
    report();
    const queue = [...session.missing];
    const worker = async () => {
      while (queue.length && !this.cancelled) {
        const i = queue.shift();
        const job = send("PUT", `/api/v1/uploads/${id}/blocks/${i}`, this.file.slice(i * BLOCK, i * BLOCK + blockSize(i)),
          (loaded) => { sent.set(i, loaded); report(); });
        this.jobs.add(job);
        try { await job.done; sent.set(i, blockSize(i)); report(); } finally { this.jobs.delete(job); }
      }
    };
    try {
      await Promise.all(Array.from({ length: PARALLEL }, worker));
    } catch (err) {
      this.cancel();
      throw err;
    }
    if (this.cancelled) throw new ApiError(0, { code: "cancelled", detail: "cancelled" });
    const node = await api("POST", `/uploads/${id}/commit`);
    localStorage.removeItem(this.key);
    setPending(this.key, null);
    return node;
  }

  /** Gives the server-side session up (its reserved quota comes back). */
  discard() {
    return forgetPending(this.key);
  }
}

/** What to do with an upload whose name is taken: `{ choice, all }`, choice `replace`,
 * `keep_both` or `skip` (also when the dialog is closed). */
function askClash(path, more) {
  return modal(`“${path}” already exists`, (close) => {
    const all = h("input", { type: "checkbox", name: "all" });
    const choose = (choice) => () => close({ choice, all: all.checked });
    return h("div", { class: "stack" },
      h("p", {}, "A file with this name is already here. Replace it (the current one stays under Versions), keep both, or skip this file?"),
      more ? h("label", { class: "row" }, all, "Do the same for every other name that is taken in this upload") : null,
      h("div", { class: "row end" },
        h("button", { type: "button", onclick: choose("skip") }, "Skip"),
        h("button", { type: "button", onclick: choose("keep_both") }, "Keep both"),
        h("button", { type: "button", class: "primary", autofocus: true, onclick: choose("replace") }, "Replace")));
  }).then((answer) => answer ?? { choice: "skip", all: false });
}

/**
 * Uploads `files` ([File, relative path]) into folder `root`, creating the folders of each
 * path, showing progress in `box`; calls `changed()` when files have landed (never two at
 * once, so a folder of many small files does not reload the list once per file).
 */
export async function uploadAll(root, files, box, changed) {
  if (!files.length) return;
  const total = files.reduce((s, [f]) => s + f.size, 0) || 1;
  const loaded = new Map();
  const overall = h("progress", { max: total, value: 0, "aria-label": "All uploads" });
  const summary = h("span", {}, `Uploading ${files.length} file${files.length > 1 ? "s" : ""} (${size(total)})`);
  const speed = h("span", { class: "muted", "data-speed": "" });
  const list = h("ul", { class: "uploads" });
  box.replaceChildren(h("div", { class: "overall" }, h("span", {}, summary, speed), overall), list);
  // Speed over the last few seconds, and the time left at that speed.
  const began = performance.now();
  let seen = [[began, 0]];
  const update = () => {
    const now = performance.now();
    const sent = [...loaded.values()].reduce((a, b) => a + b, 0);
    overall.value = sent;
    if (now - seen.at(-1)[0] < 500) return;
    seen = [...seen.filter(([t]) => now - t < 5000), [now, sent]];
    const [t0, s0] = seen[0];
    const rate = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
    if (rate > 0 && sent < total) {
      const left = Math.ceil((total - sent) / rate);
      speed.textContent = ` · ${size(rate)}/s, ${left < 60 ? `${left} s` : `${Math.ceil(left / 60)} min`} left`;
    }
  };

  // Each folder is made once, even with several files waiting for it (a promise per path).
  const folders = new Map([["", Promise.resolve(root)]]);
  function folderFor(path) {
    if (!folders.has(path)) {
      // A failure is not remembered: "Retry" tries to make the folder again.
      folders.set(path, makeFolder(path).catch((err) => { folders.delete(path); throw err; }));
    }
    return folders.get(path);
  }
  async function makeFolder(path) {
    const cut = path.lastIndexOf("/");
    const parent = await folderFor(cut < 0 ? "" : path.slice(0, cut));
    const name = path.slice(cut + 1);
    const made = await api("POST", `/nodes/${parent}/children`, { name, kind: "folder" }).catch(async (err) => {
      if (err.code !== "name_conflict") throw err;
      const existing = await api("GET", `/nodes/by-path?path=${encodeURIComponent(await pathOf(parent) + "/" + name)}`);
      if (existing.kind !== "folder") throw err;
      return existing;
    });
    return made.id;
  }
  async function pathOf(id) {
    const chain = await trail(await api("GET", `/nodes/${id}`));
    return chain.filter((n) => n.parent_id).map((n) => `/${n.name}`).join("");
  }

  // The list reloads as soon as a file lands; files landing during a reload make one more.
  let reloading = false;
  let again = false;
  const landed = async () => {
    if (reloading) { again = true; return; }
    reloading = true;
    do {
      again = false;
      await Promise.resolve(changed()).catch(() => {});
    } while (again);
    reloading = false;
  };
  // Taken names are asked about one at a time; an answer "for all" answers the rest.
  let always = null;
  let asking = Promise.resolve();
  const resolveClash = (path) => {
    const answer = asking.then(async () => {
      if (always) return always;
      const { choice, all } = await askClash(path, files.length > 1);
      if (all) always = choice;
      return choice;
    });
    asking = answer.catch(() => {});
    return answer;
  };
  const skipped = new Set();
  const stopped = new Set();
  const discarded = new Set();
  const tell = () => {
    const done = files.length - stopped.size - skipped.size - discarded.size;
    const notes = [
      stopped.size && `${stopped.size} stopped (resume or discard below)`,
      skipped.size && `${skipped.size} skipped (the name was taken)`,
      discarded.size && `${discarded.size} discarded`,
    ].filter(Boolean);
    summary.textContent = notes.length
      ? `${done} of ${files.length} uploaded; ${notes.join("; ")}`
      : `Uploaded ${files.length} file${files.length > 1 ? "s" : ""} (${size(total)})`;
  };
  const one = async ([file, path]) => {
    const cut = path.lastIndexOf("/");
    const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": path });
    const state = h("span", { class: "muted" }, "waiting");
    const buttons = h("span", { class: "row" });
    list.append(h("li", { class: "file-progress", "data-path": path }, h("span", { class: "name" }, path), bar, state, buttons));
    const transfer = new Transfer(null, file, path.slice(cut + 1), (n) => { bar.value = n; loaded.set(path, n); update(); });
    const attemptOnce = async () => {
      buttons.replaceChildren(h("button", { type: "button", onclick: () => transfer.cancel() }, "Cancel"));
      state.textContent = "uploading";
      state.className = "muted";
      try {
        transfer.parent ??= await folderFor(cut < 0 ? "" : path.slice(0, cut));
        await (file.size > BLOCK && globalThis.crypto?.subtle ? transfer.inBlocks((t) => { state.textContent = t || "uploading"; }) : transfer.whole());
        bar.value = file.size || 1;
        loaded.set(path, file.size);
        update();
        state.textContent = "done";
        buttons.replaceChildren();
        if (stopped.delete(path)) tell();
        landed();
        return true;
      } catch (err) {
        if (err.code === "name_conflict" && transfer.policy === "fail") {
          const choice = await resolveClash(path);
          // A session begun to fail on a clash is given up; its blocks stay known, so the
          // new one sends nothing twice.
          await transfer.discard();
          if (choice === "skip") {
            state.textContent = "skipped";
            buttons.replaceChildren();
            bar.value = file.size || 1;
            loaded.set(path, file.size);
            update();
            skipped.add(path);
            return true;
          }
          transfer.policy = choice;
          return attemptOnce();
        }
        state.textContent = err.code === "cancelled" ? "cancelled" : err.message;
        state.className = err.code === "cancelled" ? "muted" : "error";
        // A resume counts as an upload under way (leaving the page asks first).
        const again = h("button", { type: "button", onclick: async () => {
          running++;
          try { if (await attemptOnce()) toast(`“${path}” uploaded`); } finally { running--; }
        } },
          file.size > BLOCK ? "Resume" : "Retry");
        // Given up on purpose: no longer stopped, and not an error.
        const discard = h("button", { type: "button", onclick: async () => {
          await transfer.discard();
          state.textContent = "discarded";
          state.className = "muted";
          buttons.replaceChildren();
          stopped.delete(path);
          discarded.add(path);
          tell();
        } }, "Discard");
        buttons.replaceChildren(again, discard);
        stopped.add(path);
        return false;
      }
    };
    await attemptOnce();
  };
  // A few files at a time: small files are dominated by round trips, large ones already send
  // three blocks at once.
  const queue = [...files];
  running++;
  try {
    await Promise.all(Array.from({ length: Math.min(FILES_AT_ONCE, queue.length) }, async () => {
      while (queue.length) await one(queue.shift());
    }));
  } finally {
    running--;
  }
  speed.textContent = "";
  tell();
  // Only what stopped for a reason other than the user's own cancel is an error.
  const failed = [...stopped].some((p) => list.querySelector(`[data-path="${CSS.escape(p)}"] .error`));
  toast(summary.textContent, failed ? "error" : "info");
}
