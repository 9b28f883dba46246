// The web app in a real browser (Debian's Chromium, driven by playwright-core): what a user
// does, end to end, against a fresh `stratus serve`. Screenshots of the main pages go to `out`.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
const PASSWORD = "correct horse battery";

/** A page that fails the run on any script error. */
async function newPage(context, errors) {
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e}`));
  page.on("console", (m) => {
    // The browser logs every 4xx it sees (the tests provoke some); only script errors count.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

async function signUp(page, base, name) {
  await page.goto(`${base}/signup`);
  await page.fill("input[name=username]", name);
  await page.fill("input[name=email]", `${name}@example.com`);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForSelector("table.files");
}

async function logIn(page, name) {
  await page.fill("input[name=login]", name);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
}

const row = (name) => `tr[data-name="${name}"]`;

/** Opens the ⋯ menu of a row and picks an action. */
async function act(page, name, action) {
  await page.click(`${row(name)} summary`);
  await page.click(`${row(name)} .menu-items >> text="${action}"`);
}

/** Answers the app's one-line dialog. */
async function answer(page, text) {
  const input = page.locator("dialog[open] input[name=value]");
  await input.fill(text);
  await input.press("Enter");
}

/**
 * Drops a folder on the file list the way the browser hands one over: a DataTransfer item
 * whose `webkitGetAsEntry()` is a directory entry with a reader. (Headless Chromium cannot
 * drag from the desktop, so the entries are built in the page; the app's code is the same.)
 */
async function dropFolder(page, selector, folder, files) {
  await page.evaluate(({ selector, folder, files }) => {
    const file = (name, text) => new File([text], name, { type: "text/plain" });
    const fileEntry = (name, text) => ({ isFile: true, isDirectory: false, name, file: (ok) => ok(file(name, text)) });
    const dirEntry = (name, children) => ({
      isFile: false, isDirectory: true, name,
      createReader() { let done = false; return { readEntries(ok) { ok(done ? [] : children); done = true; } }; },
    });
    const tree = {};
    for (const [path, text] of Object.entries(files)) {
      const parts = path.split("/");
      let at = tree;
      for (const dir of parts.slice(0, -1)) at = at[dir] ??= {};
      at[parts.at(-1)] = text;
    }
    const build = (name, node) => (typeof node === "string" ? fileEntry(name, node) : dirEntry(name, Object.entries(node).map(([k, v]) => build(k, v))));
    const root = build(folder, tree);
    const target = document.querySelector(selector);
    const over = new Event("dragover", { bubbles: true, cancelable: true });
    target.dispatchEvent(over);
    const drop = new Event("drop", { bubbles: true, cancelable: true });
    Object.defineProperty(drop, "dataTransfer", { value: { types: ["Files"], items: [{ webkitGetAsEntry: () => root }], files: [] } });
    target.dispatchEvent(drop);
  }, { selector, folder, files });
}

/** A `w`×`h` RGB PNG, built here so that the test needs no image file. */
function pngImage(w, h) {
  const table = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.concat(Array.from({ length: h }, (_, y) => Buffer.from([0, ...Array.from({ length: w }, (_, x) => [200, 80 + 60 * x, 40 * y]).flat()])));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

/** The `path?token=…` link in the newest mail to `to` in the server's outbox (waits for it). */
async function mailLink(outbox, to, path) {
  for (let i = 0; i < 100; i++) {
    const mails = existsSync(outbox) ? readdirSync(outbox).map((f) => join(outbox, f)) : [];
    mails.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    for (const file of mails) {
      const text = readFileSync(file, "utf8").replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      const link = text.match(new RegExp(`https?://[^\\s"<>]+${path}\\?token=[A-Za-z0-9_-]+`));
      if (text.includes(`To: ${to}`) && link) { rmSync(file); return link[0]; }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${to} with a ${path} link`);
}

const AXE = fileURLToPath(new URL("./node_modules/axe-core/axe.min.js", import.meta.url));

/** Runs axe-core on the page as it is (open dialogs included) and fails on any critical or
 * serious violation, naming each rule and where it was found. */
async function accessible(page, name) {
  // Evaluated, not added as a script tag: the app's Content-Security-Policy allows no inline script.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(readFileSync(AXE, "utf8"));
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .filter((v) => v.impact === "critical" || v.impact === "serious")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`));
  assert.deepEqual(found, [], `axe-core on ${name}:\n${found.join("\n")}`);
}

async function apiJson(page, path) {
  return page.evaluate(async (p) => (await fetch(`/api/v1${p}`)).json(), path);
}

export default async function scenarios(base, out, { makeAdmin, paystack, outbox }) {
  mkdirSync(out, { recursive: true });
  // Every page shot is also checked by axe-core: no critical or serious violation.
  const shot = async (page, name) => {
    await page.screenshot({ path: `${out}/${name}.png` });
    await accessible(page, name);
  };
  const errors = [];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ARGS });
  try {
    const step = (name) => console.log(`  · ${name}`);
    const alice = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    await alice.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const page = await newPage(alice, errors);

    step("the root shows the app, and an anonymous visitor lands on the login page");
    await page.goto(`${base}/`);
    await page.waitForURL(/\/login\?next=/);
    await page.waitForSelector("h1:text('Log in')");
    await shot(page, "login");
    step("keyboard: Tab reaches the form with a visible focus ring");
    await page.keyboard.press("Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none", "the focused element shows an outline");

    step("sign up");
    await page.click("text=Create an account");
    await signUp(page, base, "alice");
    assert.match(await page.textContent("#nav"), /0 B of 1\.0 GB/);

    step("upload a folder by drag and drop, with progress");
    await dropFolder(page, "[data-drop]", "Holiday", {
      "notes.txt": "Day one: the sea.\n",
      "days/monday.txt": "monday",
      "days/tuesday.txt": "tuesday",
    });
    await page.waitForSelector(".uploads-box progress[aria-label='All uploads']");
    await page.waitForSelector(".overall >> text=/Uploaded 3 files/");
    assert.equal(await page.locator(".file-progress").count(), 3);
    for (const bar of await page.locator(".file-progress progress").all()) {
      assert.equal(await bar.evaluate((p) => p.value === p.max), true, "every file's bar is full");
    }
    await page.waitForSelector(row("Holiday"));

    step("navigate into folders and back through the breadcrumbs, without reloading");
    await page.evaluate(() => { window.sameDocument = true; });
    await page.click(`${row("Holiday")} a.name`);
    await page.waitForSelector(row("days"));
    await page.click(`${row("days")} a.name`);
    await page.waitForSelector(row("monday.txt"));
    assert.equal(await page.textContent(".crumbs"), "My files›Holiday›days");
    await page.click(".crumbs >> text=Holiday");
    await page.waitForSelector(row("notes.txt"));
    assert.equal(await page.evaluate(() => window.sameDocument), true, "no page load happened");

    step("preview a text file in the page");
    await page.click(`${row("notes.txt")} button.name`);
    await page.waitForSelector("dialog[open] pre:text('Day one: the sea.')");
    await page.keyboard.press("Escape");

    step("rename");
    await act(page, "notes.txt", "Rename");
    await answer(page, "diary.txt");
    await page.waitForSelector(row("diary.txt"));
    assert.equal(await page.locator(row("notes.txt")).count(), 0);

    step("uploading a name that is taken asks: Keep both, Skip, or Replace");
    const diary = (text) => ({ name: "diary.txt", mimeType: "text/plain", buffer: Buffer.from(text) });
    await page.setInputFiles("input[data-upload=files]", diary("A second diary.\n"));
    await page.waitForSelector("dialog[open][aria-label='“diary.txt” already exists']");
    assert.equal(await page.locator("dialog[open] input[name=all]").count(), 0, "no 'for all' for one file");
    await accessible(page, "the name-taken dialog");
    await page.click("dialog[open] button:text('Keep both')");
    await page.waitForSelector(row("diary (1).txt"));
    await page.setInputFiles("input[data-upload=files]", diary("Not wanted.\n"));
    await page.click("dialog[open] button:text('Skip')");
    await page.waitForSelector(".file-progress[data-path='diary.txt'] >> text=skipped");
    await page.waitForSelector("#toast:text('1 skipped')");
    assert.equal(await page.locator(row("diary (2).txt")).count(), 0);
    assert.equal((await apiJson(page, `/nodes/${(await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/Holiday/diary.txt")}`)).id}/versions`)).items.length, 1, "skipped: no new version");

    step("a batch with taken names is asked once when the answer is for all");
    await page.setInputFiles("input[data-upload=files]", [diary("Batch one.\n"), { name: "diary (1).txt", mimeType: "text/plain", buffer: Buffer.from("Batch two.\n") }]);
    await page.waitForSelector("dialog[open] input[name=all]");
    await page.check("dialog[open] input[name=all]");
    await page.click("dialog[open] button:text('Keep both')");
    await page.waitForSelector(row("diary (2).txt"));
    await page.waitForSelector(row("diary (1) (1).txt"));
    assert.equal(await page.locator("dialog[open]").count(), 0, "asked once");

    step("uploading a file again with Replace makes a new version; the older one can be restored");
    await page.setInputFiles("input[data-upload=files]", diary("Day one, rewritten.\n"));
    await page.click("dialog[open] button:text('Replace')");
    await page.waitForSelector(".file-progress[data-path='diary.txt'] >> text=done");
    await act(page, "diary.txt", "Versions");
    await page.waitForSelector("dialog[open] li:has-text('current')");
    assert.equal(await page.locator("dialog[open] li").count(), 2);
    await accessible(page, "the versions dialog");
    await page.click("dialog[open] li >> nth=1 >> button:text('Restore')");
    await page.waitForSelector("#toast:text('older version is now the current one')");
    await page.click(`${row("diary.txt")} button.name`);
    await page.waitForSelector("dialog[open] pre:text('Day one: the sea.')");
    await page.keyboard.press("Escape");

    step("copy through the folder picker");
    await act(page, "diary.txt", "Copy");
    await page.click("dialog[open] button:text('Copy here')");
    await page.waitForSelector("#toast:text('1 item copied')");
    const copied = await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/diary.txt")}`);
    assert.equal(copied.size, "Day one: the sea.\n".length);

    step("a copy into its own folder is named “(copy)”; a rename to a taken name keeps the dialog and what was typed");
    await act(page, "diary.txt", "Copy");
    await page.click("dialog[open] button:text('Holiday')");
    await page.click("dialog[open] button:text('Copy here')");
    await page.waitForSelector(row("diary (copy).txt"));
    await act(page, "diary (copy).txt", "Rename");
    await answer(page, "diary.txt");
    await page.waitForSelector("dialog[open] [role=alert]:text('“diary.txt” is already taken here.')");
    assert.equal(await page.inputValue("dialog[open] input[name=value]"), "diary.txt");
    await accessible(page, "a name that is taken");
    await answer(page, "diary copy.txt");
    await page.waitForSelector(row("diary copy.txt"));

    step("upload a whole folder with the folder picker");
    const local = mkdtempSync(join(tmpdir(), "stratus-pick-"));
    mkdirSync(join(local, "Receipts", "2026"), { recursive: true });
    writeFileSync(join(local, "Receipts", "march.txt"), "march");
    writeFileSync(join(local, "Receipts", "2026", "april.txt"), "april");
    await page.setInputFiles("input[data-upload=folder]", join(local, "Receipts"));
    await page.waitForSelector(row("Receipts"));
    await page.waitForSelector(".overall >> text=/Uploaded 2 files/");
    const april = await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/Holiday/Receipts/2026/april.txt")}`);
    assert.equal(april.size, 5);
    rmSync(local, { recursive: true });

    step("a hostile name is shown as text, never as markup");
    await page.click("text=New folder");
    await answer(page, "<img src=x onerror=window.pwned=1>");
    await page.waitForSelector(`tr[data-name="<img src=x onerror=window.pwned=1>"]`);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.equal(await page.locator("td img[src=x]").count(), 0);

    step("an image gets a thumbnail made on the server, and an in-page preview");
    const png = pngImage(300, 200);
    await page.setInputFiles("input[data-upload=files]", { name: "sunset.png", mimeType: "image/png", buffer: png });
    await page.waitForSelector(`${row("sunset.png")} img.thumb`);
    const thumb = "tr[data-name='sunset.png'] img.thumb";
    await page.waitForFunction((sel) => document.querySelector(sel)?.naturalWidth === 64, thumb);
    const first = await page.getAttribute(thumb, "src");
    assert.match(first, /\/thumbnail\?size=64&v=/, "a thumbnail, not the original");
    await page.click(`${row("sunset.png")} button.name`);
    await page.waitForFunction(() => document.querySelector("dialog[open] .preview img")?.naturalWidth === 300);
    await accessible(page, "the image preview");
    await page.keyboard.press("Escape");

    step("a replaced image shows its new picture at once");
    await page.setInputFiles("input[data-upload=files]", { name: "sunset.png", mimeType: "image/png", buffer: pngImage(100, 200) });
    await page.click("dialog[open] button:text('Replace')");
    await page.waitForFunction(([sel, old]) => {
      const t = document.querySelector(sel);
      return t && t.getAttribute("src") !== old && t.naturalHeight === 64 && t.naturalWidth === 32;
    }, [thumb, first]);

    step("the preview goes through a folder's pictures by Previous, Next and the arrow keys; Markdown is rendered");
    await page.setInputFiles("input[data-upload=files]", [
      { name: "beach.png", mimeType: "image/png", buffer: pngImage(120, 80) },
      { name: "README.md", mimeType: "text/markdown", buffer: Buffer.from("# Trip notes\n\n- [x] tickets\n\n<script>window.pwned=1</script>\n") },
    ]);
    await page.waitForSelector(row("README.md"));
    await page.click(`${row("beach.png")} button.name`);
    await page.waitForSelector("dialog[open][aria-label='beach.png'] >> text=1 of 2");
    await page.keyboard.press("ArrowRight");
    await page.waitForSelector("dialog[open][aria-label='sunset.png'] >> text=2 of 2");
    await page.waitForFunction(() => document.querySelector("dialog[open] .preview img")?.naturalWidth === 100);
    await page.click("dialog[open] button:text('‹ Previous')");
    await page.waitForSelector("dialog[open][aria-label='beach.png'] >> text=1 of 2");
    await page.keyboard.press("Escape");
    await page.click(`${row("README.md")} button.name`);
    await page.waitForSelector("dialog[open] .markdown-preview h1:text('Trip notes')");
    await page.waitForSelector("dialog[open] .markdown-preview li:text('☑ tickets')");
    assert.equal(await page.locator("dialog[open] .markdown-preview script").count(), 0, "raw HTML is shown as text");
    await page.waitForSelector("dialog[open] .markdown-preview >> text=<script>window.pwned=1</script>");
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    await accessible(page, "the Markdown preview");
    await page.keyboard.press("Escape");

    step("a grid of large thumbnails, remembered across a reload");
    await page.click("button:text('Grid view')");
    const card = "li.card-item[data-name='sunset.png'] img.thumb";
    // 100 × 200: the 256 size is never larger than the picture itself.
    await page.waitForFunction((sel) => document.querySelector(sel)?.naturalHeight === 200, card);
    assert.match(await page.getAttribute(card, "src"), /size=256/);
    await page.waitForSelector("li.card-item[data-name='days'] svg.glyph-folder");
    await shot(page, "files-grid");
    await page.reload();
    await page.waitForSelector("button[aria-pressed=true]:text('Grid view')");
    await page.waitForSelector(card);
    await page.click("button:text('Grid view')");
    await page.waitForSelector(`${row("sunset.png")} img.thumb`);

    step("a large upload interrupted by the network resumes with only the missing blocks");
    const big = Buffer.alloc(9 * 1024 * 1024 + 123);
    for (let i = 0; i + 4 <= big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const sent = new Map();
    let firstDone;
    const blockZero = new Promise((ok) => { firstDone = ok; });
    page.on("requestfinished", (r) => {
      const m = r.url().match(/\/uploads\/[^/]+\/blocks\/(\d+)$/);
      if (m) { sent.set(m[1], (sent.get(m[1]) || 0) + 1); if (m[1] === "0") firstDone(); }
    });
    let failOnce = true;
    await page.route(/\/uploads\/[^/]+\/blocks\/1$/, async (route) => {
      if (!failOnce) return route.continue();
      failOnce = false;
      await blockZero;
      await route.abort("connectionreset");
    });
    await page.setInputFiles("input[data-upload=files]", { name: "video.bin", mimeType: "application/octet-stream", buffer: big });
    await page.waitForSelector(".file-progress[data-path='video.bin'] button:text('Resume')");
    assert.equal(await page.locator(row("video.bin")).count(), 0, "nothing is visible before the commit");
    await page.click(".file-progress[data-path='video.bin'] button:text('Resume')");
    await page.waitForSelector(row("video.bin"), { timeout: 8000 }).catch(async (e) => { console.log("DEBUG", await page.textContent(".uploads-box"), [...sent]); throw e; });
    assert.equal(sent.get("0"), 1, "block 0 arrived once and was not sent again");
    const listed = await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/Holiday/video.bin")}`);
    assert.equal(listed.size, big.length);
    const stored = await page.evaluate(async (id) => {
      const bytes = new Uint8Array(await (await fetch(`/api/v1/nodes/${id}/content`)).arrayBuffer());
      return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
    }, listed.id);
    assert.equal(stored, createHash("sha256").update(big).digest("hex"), "the stored file is the one sent");
    await page.unroute(/\/uploads\/[^/]+\/blocks\/1$/);

    step("leaving during an upload asks first; the same file picked again after a reload resumes it");
    const reloadPath = join(mkdtempSync(join(tmpdir(), "stratus-reload-")), "reload-me.bin");
    writeFileSync(reloadPath, big.subarray(0, 6 * 1024 * 1024));
    const heldBlocks = [];
    await page.route(/\/uploads\/[^/]+\/blocks\/\d+$/, (route) => { heldBlocks.push(route); });
    await page.setInputFiles("input[data-upload=files]", reloadPath);
    while (!heldBlocks.length) await page.waitForTimeout(50);
    const asks = await page.evaluate(() => { const e = new Event("beforeunload", { cancelable: true }); dispatchEvent(e); return e.defaultPrevented; });
    assert.equal(asks, true, "leaving mid-upload asks first");
    page.once("dialog", (d) => d.accept());
    await page.reload();
    for (const route of heldBlocks) await route.abort().catch(() => {});
    await page.unroute(/\/uploads\/[^/]+\/blocks\/\d+$/);
    await page.waitForSelector("[data-pending='reload-me.bin'] >> text=Pick the file again to resume");
    await page.setInputFiles("[data-resume='reload-me.bin']", reloadPath);
    await page.waitForSelector(".file-progress[data-path='reload-me.bin'] >> text=done");
    await page.waitForSelector("[data-pending='reload-me.bin']", { state: "detached" });
    const resumed = await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/Holiday/reload-me.bin")}`);
    assert.equal(resumed.size, 6 * 1024 * 1024);

    step("cancel an upload, then discard it");
    let held = [];
    await page.route(/\/uploads\/[^/]+\/blocks\/\d+$/, (route) => { held.push(route); });
    await page.setInputFiles("input[data-upload=files]", { name: "cancel-me.bin", mimeType: "application/octet-stream", buffer: big.subarray(0, 5 * 1024 * 1024) });
    await page.waitForFunction(() => document.querySelector(".file-progress[data-path='cancel-me.bin'] button")?.textContent === "Cancel");
    while (!held.length) await page.waitForTimeout(50);
    await page.click(".file-progress[data-path='cancel-me.bin'] button:text('Cancel')");
    await page.waitForSelector(".file-progress[data-path='cancel-me.bin'] >> text=cancelled");
    await page.click(".file-progress[data-path='cancel-me.bin'] button:text('Discard')");
    await page.waitForSelector(".file-progress[data-path='cancel-me.bin'] >> text=discarded");
    await page.waitForSelector(".overall >> text='0 of 1 uploaded; 1 discarded'");
    for (const route of held) await route.abort().catch(() => {});
    await page.unroute(/\/uploads\/[^/]+\/blocks\/\d+$/);
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("stratus-upload:")).length), 0);
    assert.equal(await page.locator(row("cancel-me.bin")).count(), 0);

    step("multi-select and move into a folder");
    assert.equal(await page.isVisible(".selection"), false, "no selection bar without a selection");
    await page.check(`${row("diary.txt")} input[type=checkbox]`);
    await page.check(`${row("sunset.png")} input[type=checkbox]`);
    await page.waitForSelector(".selection >> text=2 selected");
    await page.click(".selection >> text=Move");
    await page.waitForSelector("dialog[open] button:text('Holiday')");
    await accessible(page, "the folder picker");
    await page.click("dialog[open] button:text('Holiday')");
    await page.click("dialog[open] button:text('days')");
    await page.click("dialog[open] button:text('Move here')");
    await page.waitForSelector("#toast:text('2 items moved')");
    await page.waitForSelector(row("diary.txt"), { state: "detached" });
    await page.waitForSelector(row("sunset.png"), { state: "detached" });
    await shot(page, "files");

    step("drag rows onto a folder to move them, onto a breadcrumb to move them up; drop files on a folder row to upload there");
    await page.dragAndDrop(row("diary (1).txt"), row("days"));
    await page.waitForSelector("#toast:text('1 item moved to “days”')");
    await page.waitForSelector(row("diary (1).txt"), { state: "detached" });
    await page.check(`${row("diary (2).txt")} input[type=checkbox]`);
    await page.check(`${row("diary (1) (1).txt")} input[type=checkbox]`);
    await page.dragAndDrop(row("diary (2).txt"), row("days"));
    await page.waitForSelector("#toast:text('2 items moved to “days”')");
    await page.waitForSelector(row("diary (1) (1).txt"), { state: "detached" });
    await page.click(`${row("days")} a.name`);
    await page.waitForSelector(row("diary (2).txt"));
    await page.dragAndDrop(row("diary (1).txt"), ".crumbs a:text('Holiday')");
    await page.waitForSelector("#toast:text('1 item moved to “Holiday”')");
    await page.waitForSelector(row("diary (1).txt"), { state: "detached" });
    await page.click(".crumbs >> text=Holiday");
    await page.waitForSelector(row("diary (1).txt"));
    await dropFolder(page, row("days"), "postcards", { "rome.txt": "Ciao" });
    await page.waitForSelector(".file-progress[data-path='postcards/rome.txt'] >> text=done");
    const rome = await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/Holiday/days/postcards/rome.txt")}`);
    assert.equal(rome.size, 4, "dropped on the days row, uploaded into days");
    assert.equal(await page.locator(row("postcards")).count(), 0, "not into the folder on screen");

    step("search");
    await page.fill("input[name=q]", "DIARY");
    await page.press("input[name=q]", "Enter");
    await page.waitForSelector(`${row("diary.txt")} >> text="/Holiday/days"`);
    await shot(page, "search");

    step("a folder of 1,500 items: its count, a window of rows drawn, the rest loaded by scrolling, select all is all, search pages on");
    const manyId = await page.evaluate(async (root) => {
      const { api } = await import("/assets/api.js");
      const folder = await api("POST", `/nodes/${root}/children`, { name: "Many", kind: "folder" });
      const form = new FormData();
      for (let i = 0; i < 1500; i++) form.append("file", new Blob([`entry ${i}`]), `entry-${String(i).padStart(4, "0")}.txt`);
      await api("POST", `/nodes/${folder.id}/files`, form);
      return folder.id;
    }, (await apiJson(page, "/me")).root_id);
    await page.goto(`${base}/files/${manyId}`);
    const focused = () => page.evaluate(() => document.activeElement.dataset?.name ?? document.activeElement.name);
    await page.waitForSelector(".head .count:text('1,500 items')");
    await page.waitForSelector(row("entry-0000.txt"));
    const drawnRows = () => page.locator("tbody tr[data-id]").count();
    assert.ok((await drawnRows()) < 150, `only a window is drawn (${await drawnRows()} rows)`);
    assert.equal(await page.getAttribute("table.listing", "aria-rowcount"), "1501");
    // Scrolled to the end, the last entries are loaded and drawn, and still only a window.
    for (let i = 0; i < 300 && !(await page.locator(row("entry-1499.txt")).count()); i++) {
      await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
      await page.waitForTimeout(100);
    }
    await page.waitForSelector(row("entry-1499.txt"));
    assert.equal(await page.getAttribute(row("entry-1499.txt"), "aria-rowindex"), "1501");
    assert.ok((await drawnRows()) < 150, `still only a window (${await drawnRows()} rows)`);
    // Back at the top, the arrow keys walk past the drawn window.
    await page.evaluate(() => scrollTo(0, 0));
    await page.waitForSelector(row("entry-0000.txt"));
    await page.focus(row("entry-0000.txt"));
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "entry-0001.txt", "a row is one Tab stop");
    await page.focus(row("entry-0000.txt"));
    for (let i = 0; i < 120; i++) await page.keyboard.press("ArrowDown");
    assert.equal(await focused(), "entry-0120.txt");
    // An action deep down reloads the list where the user is, keeping the selection.
    for (let i = 0; i < 300 && !(await page.locator(row("entry-1495.txt")).count()); i++) {
      await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
      await page.waitForTimeout(100);
    }
    await page.click(`${row("entry-1490.txt")} input[type=checkbox]`);
    await page.focus(row("entry-1495.txt"));
    await page.keyboard.press("F2");
    await page.fill("dialog[open] input[name=value]", "entry-1495 renamed.txt");
    await page.keyboard.press("Enter");
    await page.waitForSelector(row("entry-1495 renamed.txt"));
    await page.waitForSelector(".selection >> text=1 selected");
    assert.ok(await page.evaluate(() => scrollY > 10_000), "still deep in the list");
    await page.click(".selection button:text('Clear')");
    // Select all, on a fresh page with only the first entries loaded, selects all 1,500.
    await page.reload();
    await page.waitForSelector(".head .count:text('1,500 items')");
    await page.check("input[aria-label='Select all']");
    await page.waitForSelector(".selection >> text=All 1,500 selected");
    await page.click(".selection button:text('Clear')");
    await page.waitForSelector(".selection", { state: "hidden" });
    // The grid draws a window too, of lines of several cards, and reaches the last one.
    await page.click("button:text('Grid view')");
    await page.waitForSelector("li.card-item[data-name='entry-0000.txt']");
    const drawnCards = () => page.locator("li.card-item[data-id]").count();
    assert.ok((await drawnCards()) < 400, `only a window of cards is drawn (${await drawnCards()})`);
    for (let i = 0; i < 300 && !(await page.locator("li.card-item[data-name='entry-1499.txt']").count()); i++) {
      await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
      await page.waitForTimeout(100);
    }
    await page.waitForSelector("li.card-item[data-name='entry-1499.txt']");
    assert.ok((await drawnCards()) < 400, `still a window of cards (${await drawnCards()})`);
    await page.click("button:text('Grid view')");
    await page.waitForSelector(row("entry-0000.txt"));
    // A search of 500 hits comes page by page as the results scroll by.
    await page.fill("input[name=q]", "entry-1");
    await page.press("input[name=q]", "Enter");
    await page.waitForSelector(".head .count:text('The first 100 results; more as you scroll')");
    for (let i = 0; i < 300 && !(await page.locator(".head .count:text('500 results')").count()); i++) {
      await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
      await page.waitForTimeout(100);
    }
    await page.waitForSelector(".head .count:text('500 results')");
    assert.equal(await page.locator("tbody tr[data-name]").count(), 500);
    assert.equal(await page.locator("tbody tr[data-name='entry-1499.txt']").count(), 1);
    await page.goto(`${base}/files`);

    step("share with a second user, who sees it under Shared with me");
    const bob = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const bobPage = await newPage(bob, errors);
    await signUp(bobPage, base, "bob");
    await page.click("#nav >> text=Files");
    await act(page, "Holiday", "Share");
    await page.fill("dialog[open] input[name=user]", "bob");
    await page.selectOption("dialog[open] select[name=role]", "editor");
    await page.click("dialog[open] button:text('Share')");
    await page.waitForSelector("dialog[open] li[data-user=bob]");
    step("create a password link and copy it");
    await page.fill("dialog[open] input[name=password]", "open sesame");
    await page.fill("dialog[open] input[name=max_downloads]", "5");
    await page.click("dialog[open] button:text('Create link')");
    await page.waitForSelector("dialog[open] li[data-link] >> text=/password/");
    await shot(page, "share");
    const linkUrl = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(linkUrl, /\/s\/[A-Za-z0-9_-]{20,}$/);
    await page.keyboard.press("Escape");

    await bobPage.click("#nav >> text=Shared with me");
    await bobPage.waitForSelector(`${row("Holiday")} >> text=alice`);
    assert.match(await bobPage.textContent(row("Holiday")), /editor/);
    await shot(bobPage, "shared");

    step("in a share, the actions are what the role allows, and the breadcrumbs lead back to Shared with me");
    await bobPage.click(`${row("Holiday")} a.name`);
    await bobPage.waitForSelector(".crumbs a:text('Shared with me')");
    await bobPage.waitForSelector(".badge:text('shared with you to edit')");
    await bobPage.click(`${row("days")} summary`);
    const editorMenu = await bobPage.locator(`${row("days")} .menu-items > *`).allTextContents();
    assert.ok(editorMenu.includes("Move") && editorMenu.includes("Rename") && !editorMenu.includes("Share"), editorMenu.join(", "));
    await bobPage.click(`${row("days")} .menu-items >> text="Move"`);
    await bobPage.waitForSelector("dialog[open] .crumbs button:text('Holiday')");
    assert.equal(await bobPage.locator("dialog[open] .crumbs button:text('My files')").count(), 0, "a move stays in alice's drive");
    await bobPage.click("dialog[open] button:text('Cancel')");
    // Alice shares a folder with bob to view only (through the app's own API client).
    const readOnly = await page.evaluate(async () => {
      const { api } = await import("/assets/api.js");
      const me = await api("GET", "/me");
      const folder = await api("POST", `/nodes/${me.root_id}/children`, { name: "Read only", kind: "folder" });
      await api("PUT", `/nodes/${folder.id}/files/rules.txt`, new Blob(["look, don't touch"]));
      await api("POST", `/nodes/${folder.id}/shares`, { user: "bob", role: "viewer" });
      return folder.id;
    });
    await bobPage.goto(`${base}/files/${readOnly}`);
    await bobPage.waitForSelector(".badge:text('shared with you to view')");
    await bobPage.waitForSelector(row("rules.txt"));
    assert.equal(await bobPage.locator("button:text('Upload files'), button:text('New folder')").count(), 0, "a viewer cannot add");
    await bobPage.click(`${row("rules.txt")} summary`);
    const viewerMenu = await bobPage.locator(`${row("rules.txt")} .menu-items > *`).allTextContents();
    assert.deepEqual(viewerMenu, ["Download", "Copy"]);
    await accessible(bobPage, "a folder shared to view");
    await bobPage.click(".crumbs a:text('Shared with me')");
    await bobPage.click(`${row("Holiday")} a`);
    await bobPage.waitForSelector(row("days"));
    await bobPage.waitForSelector(".badge:text('shared with you')");
    await bob.close();

    step("the password link in a fresh browser: prompt, wrong password, preview, download");
    const visitor = await browser.newContext({ acceptDownloads: true });
    const v = await newPage(visitor, errors);
    const response = await v.goto(linkUrl);
    assert.equal(response.status(), 401);
    await v.waitForSelector("h1:text('This link has a password')");
    await v.fill("input[name=password]", "not it");
    await v.press("input[name=password]", "Enter");
    await v.waitForSelector("text=That password is not right.");
    await v.fill("input[name=password]", "open sesame");
    await v.press("input[name=password]", "Enter");
    await v.waitForSelector(row("days"));
    await v.click(`${row("days")} a`);
    await v.waitForSelector(row("monday.txt"));
    await shot(v, "public-link");
    await v.click(`${row("monday.txt")} button`);
    await v.waitForSelector("dialog[open] pre:text('monday')");
    const [download] = await Promise.all([v.waitForEvent("download"), v.click("dialog[open] a:text('Download')")]);
    const saved = await download.path();
    assert.equal(readFileSync(saved, "utf8"), "monday");
    await visitor.close();

    step("a file-drop link: a visitor sends files without seeing the folder");
    await page.click(`${row("Holiday")} a.name`);
    await act(page, "Receipts", "Share");
    await page.check("dialog[open] input[name=upload_only]");
    await page.click("dialog[open] button:text('Create link')");
    await page.waitForSelector("dialog[open] li[data-link] >> text=/file drop/");
    const dropUrl = await page.evaluate(() => navigator.clipboard.readText());
    await page.keyboard.press("Escape");
    const dropper = await browser.newContext();
    const d = await newPage(dropper, errors);
    await d.goto(dropUrl);
    await d.waitForSelector("h1:text('Send files to “Receipts”')");
    assert.equal(await d.locator("text=march.txt").count(), 0, "the visitor does not see the folder");
    await d.setInputFiles("input[type=file]", { name: "invoice.txt", mimeType: "text/plain", buffer: Buffer.from("pay me") });
    await d.waitForSelector(".file-progress >> text=sent");
    await shot(d, "file-drop");
    await dropper.close();
    await page.click(`${row("Receipts")} a.name`);
    await page.waitForSelector(row("invoice.txt"));
    await page.click("#nav >> text=Files");

    step("the mailed links: confirm an address, then reset a forgotten password");
    const carol = await browser.newContext();
    const c = await newPage(carol, errors);
    await signUp(c, base, "carol");
    await c.goto(await mailLink(outbox, "carol@example.com", "/verify-email"));
    await c.waitForSelector("h1:text('Email confirmed')");
    await c.click("#nav >> text=Profile");
    await c.waitForSelector(".badge:text('confirmed')");
    await c.click("#nav >> text=Log out");
    await c.waitForSelector("h1:text('Log in')");
    await c.click("text=Forgot your password?");
    await c.fill("input[name=email]", "carol@example.com");
    await c.click("button[type=submit]");
    await c.waitForSelector("h1:text('Check your mail')");
    await c.goto(await mailLink(outbox, "carol@example.com", "/reset-password"));
    await c.fill("input[name=password]", "a brand new password");
    await c.click("button[type=submit]");
    await c.waitForSelector("h1:text('Log in')");
    await c.fill("input[name=login]", "carol");
    await c.fill("input[name=password]", PASSWORD);
    await c.click("button[type=submit]");
    await c.waitForSelector("form p.error:not(:empty)");
    await c.fill("input[name=password]", "a brand new password");
    await c.click("button[type=submit]");
    await c.waitForSelector("table.files");
    await carol.close();

    step("delete, then restore from the trash, one by one and several at once");
    for (const name of ["Holiday", "diary.txt", "Read only"]) {
      await act(page, name, "Delete");
      await page.click("dialog[open] button:text('Move to trash')");
      await page.waitForSelector(row(name), { state: "detached" });
    }
    await page.click("#nav >> text=Trash");
    await page.waitForSelector(row("Holiday"));
    await shot(page, "trash");
    await page.click(`${row("Holiday")} button:text('Restore')`);
    await page.waitForSelector(row("Holiday"), { state: "detached" });
    await page.check(`${row("diary.txt")} input[type=checkbox]`);
    await page.check(`${row("Read only")} input[type=checkbox]`);
    await page.waitForSelector(".selection >> text=2 selected");
    await page.uncheck(`${row("Read only")} input[type=checkbox]`);
    await page.click(".selection >> text=Restore selected");
    await page.waitForSelector("#toast:text('1 item restored')");
    await page.waitForSelector(row("diary.txt"), { state: "detached" });
    await page.check("thead input[aria-label='Select all']");
    await page.click(".selection >> text=Delete selected forever");
    await page.click("dialog[open] button:text('Delete forever')");
    await page.waitForSelector("#toast:text('1 item deleted forever')");
    await page.waitForSelector("text=The trash is empty.");
    await page.click("#nav >> text=Files");
    await page.waitForSelector(row("Holiday"));

    step("statistics, plan, profile");
    await page.click("#nav >> text=Statistics");
    await page.waitForSelector("svg.chart.stacked rect");
    await page.waitForSelector("svg.chart.bars rect");
    await page.waitForSelector(".legend >> text=/documents/");
    await shot(page, "stats");
    await page.click("#nav >> text=Plan");
    await page.waitForSelector("text=/free 1 GB plan/");
    await page.fill("input[aria-label=GB]", "25");
    await page.waitForSelector("strong:text('2500.00 NGN a month')");
    await shot(page, "plan");
    step("pay for a bigger plan through Paystack's page, and come back to it applied");
    await page.fill("input[aria-label=GB]", "12");
    await page.click("button:text('Choose this plan')");
    await page.waitForURL(`${paystack.base}/pay/**`);
    assert.match(await page.textContent("h1"), /Pay 1200\.00 NGN/);
    await page.click("#pay");
    await page.waitForURL(`${base}/plan`);
    await page.waitForSelector("#toast:text('Payment received: your plan is active.')");
    await page.waitForSelector("text=/You have the 12 GB plan/");
    await page.waitForSelector("td:text('success')");
    assert.match(await page.textContent("#nav"), /of 12\.0 GB/);
    await page.click("button:text('Go back to the free 1 GB')");
    await page.waitForSelector("#toast:text('Your plan is now 1 GB')");
    await page.waitForSelector("text=/free 1 GB plan/");

    step("with payments off, the plan page says whom to ask instead of listing prices");
    await page.route("**/api/v1/plans", async (route) => route.fulfill({ json: { ...(await (await route.fetch()).json()), payments_enabled: false } }));
    await page.reload();
    await page.waitForSelector("[data-payments=off]:text('This server takes no payments')");
    assert.equal(await page.locator("input[aria-label=GB]").count(), 0, "no prices to choose from");
    await page.unroute("**/api/v1/plans");
    await page.click("#nav >> text=Profile");
    await page.setInputFiles("input[name=photo]", { name: "me.png", mimeType: "image/png", buffer: pngImage(3, 3) });
    await page.waitForFunction(() => document.querySelector("img.avatar.big")?.naturalWidth === 3);
    await page.waitForFunction(() => document.querySelector("#nav img.avatar")?.naturalWidth === 3);
    await page.fill("input[name=display_name]", "Alice Liddell");
    await page.click("button:text('Save')");
    await page.waitForSelector("#toast:text('Saved')");
    await page.fill("input[name=name]", "laptop");
    await page.click("button:text('Create token')");
    await page.waitForSelector("code.token");
    await page.waitForSelector("li[data-token=laptop]");
    await shot(page, "profile");

    step("an ended session sends the user to log in, then back where they were");
    const folder = await apiJson(page, `/nodes/by-path?path=${encodeURIComponent("/Holiday/days")}`);
    await page.goto(`${base}/files/${folder.id}`);
    await page.waitForSelector(row("monday.txt"));
    await alice.clearCookies();
    await page.click(".crumbs >> text=Holiday");
    await page.waitForURL(/\/login\?next=/);
    await logIn(page, "alice");
    await page.waitForURL(new RegExp(`/files/[0-9a-f-]{36}$`));
    await page.waitForSelector(row("days"), { timeout: 10_000 });

    step("administration");
    makeAdmin("alice");
    await page.reload();
    await page.click("#nav >> text=Admin");
    await page.waitForSelector(row("bob"));
    await page.click(`${row("bob")} button:text('Disable')`);
    await page.waitForSelector(`${row("bob")} .badge:text('disabled')`);
    await page.click(".tabs >> text=Storage");
    await page.waitForSelector("table.files .badge");
    await shot(page, "admin-storage");
    await page.click(".tabs >> text=Jobs");
    await page.click("td button:text('Run now') >> nth=0");
    await page.waitForSelector("#toast:text(' ran')");
    await page.waitForSelector("h2:text('Recent runs') + div td .badge");
    await page.click(".tabs >> text=Audit log");
    // Readable: actions in words, targets by name, a link's settings rather than its JSON.
    await page.waitForSelector("tr[data-action=share_created] span:text('Share created')");
    await page.waitForSelector("tr[data-action=share_created] span:text('Holiday')");
    await page.waitForSelector("tr[data-action=link_created] small:text-matches('max downloads 5, password')");
    assert.equal(await page.locator("tr[data-action] small:text-matches('[{}]')").count(), 0, "no JSON shown");
    await shot(page, "admin-audit");

    step("keyboard only: open a row's menu, rename, close menus with Escape");
    await page.click("#nav >> text=Files");
    await page.click(`${row("Holiday")} a.name`);
    const odd = `tr[data-name="<img src=x onerror=window.pwned=1>"]`;
    await page.focus(`${odd} summary`);
    await page.keyboard.press("Enter");
    await page.waitForSelector(`${odd} details[open]`);
    await page.keyboard.press("Escape");
    await page.waitForSelector(`${odd} details:not([open])`);
    assert.equal(await page.evaluate(() => document.activeElement.tagName), "SUMMARY");
    await page.keyboard.press("Enter");
    for (let i = 0; i < 3; i++) await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Rename");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("Odd name");
    await page.keyboard.press("Enter");
    await page.waitForSelector(row("Odd name"));

    step("keys: ? lists them, / searches, arrows, Enter, Space, Escape, Ctrl+A, Shift-click, F2, Delete, n");
    await page.click(".crumbs h1");
    await page.keyboard.press("?");
    await page.waitForSelector("dialog[open][aria-label='Keyboard shortcuts']");
    await accessible(page, "the keyboard shortcuts");
    await page.keyboard.press("Escape");
    await page.keyboard.press("/");
    assert.equal(await focused(), "q", "/ goes to the search field");
    await page.click(".crumbs h1");
    await page.keyboard.press("ArrowDown");
    const firstRow = await focused();
    await page.keyboard.press("ArrowDown");
    const secondRow = await focused();
    assert.ok(firstRow && secondRow && firstRow !== secondRow, `${firstRow}, ${secondRow}`);
    await page.keyboard.press(" ");
    await page.waitForSelector(".selection >> text=1 selected");
    await page.keyboard.press("Escape");
    await page.waitForSelector(".selection", { state: "hidden" });
    await page.keyboard.press("Control+A");
    const all = await page.locator("tbody tr[data-id]").count();
    await page.waitForSelector(`.selection >> text=${all} selected`);
    await page.keyboard.press("Escape");
    const boxes = page.locator("tbody tr[data-id] input[type=checkbox]");
    await boxes.nth(0).click();
    await boxes.nth(2).click({ modifiers: ["Shift"] });
    await page.waitForSelector(".selection >> text=3 selected");
    const [archive] = await Promise.all([page.waitForEvent("download"), page.click(".selection >> text=Download as zip")]);
    assert.equal(archive.suggestedFilename(), "selection.zip");
    assert.equal(readFileSync(await archive.path()).subarray(0, 2).toString(), "PK", "a zip of the selection");
    await page.keyboard.press("Escape");
    await page.focus(row(secondRow));
    await page.keyboard.press("F2");
    assert.equal(await page.inputValue("dialog[open] input[name=value]"), secondRow, "F2 renames the focused item");
    await page.keyboard.press("Escape");
    await page.focus(row(secondRow));
    await page.keyboard.press("Delete");
    await page.waitForSelector(`dialog[open] >> text=“${secondRow}” will be kept in the trash`);
    await page.click("dialog[open] button:text('Cancel')");
    await page.focus(row("days"));
    await page.keyboard.press("Enter");
    await page.waitForSelector(".crumbs h1:text('days')");
    await page.click(".crumbs >> text=Holiday");
    await page.waitForSelector(row("days"));
    await page.click(".crumbs h1");
    await page.keyboard.press("n");
    await answer(page, "Made by a key");
    await page.waitForSelector(row("Made by a key"));

    step("dark mode");
    await page.emulateMedia({ colorScheme: "dark" });
    await page.click("#nav >> text=Files");
    await page.waitForSelector(row("Holiday"));
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(dark, "rgb(15, 18, 22)");
    await shot(page, "files-dark");
    step("a light or dark choice of one's own overrides the system's, and is kept");
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.click("#nav >> text=Profile");
    await page.selectOption("select[name=theme]", "light");
    assert.equal(await background(), "rgb(245, 247, 250)", "light although the system is dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.selectOption("select[name=theme]", "dark");
    await page.reload();
    await page.waitForSelector("select[name=theme]");
    assert.equal(await background(), "rgb(15, 18, 22)", "dark although the system is light, after a reload");
    await page.selectOption("select[name=theme]", "");
    assert.equal(await background(), "rgb(245, 247, 250)", "back to the system's");
    await alice.close();

    step("an app signs in (Login Flow v2): the user logs in in the browser, grants, the app's poll gets a password");
    const flow = await (await fetch(`${base}/index.php/login/v2`, { method: "POST", headers: { "user-agent": "mirall/3.7.3" } })).json();
    const browserOfApp = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const fp = await newPage(browserOfApp, errors);
    await fp.goto(flow.login);
    await fp.waitForURL(/\/login\?next=/);
    await logIn(fp, "alice");
    await fp.waitForSelector("h1:text('Connect an app')");
    assert.match(await fp.textContent("body"), /mirall\/3\.7\.3/);
    const poll = () => fetch(flow.poll.endpoint, { method: "POST", body: new URLSearchParams({ token: flow.poll.token }) });
    assert.equal((await poll()).status, 404, "nothing before the grant");
    await fp.click("button:text('Grant access')");
    await fp.waitForSelector("h1:text('Access granted')");
    const granted = await poll();
    assert.equal(granted.status, 200);
    assert.equal((await granted.json()).loginName, "alice");
    await browserOfApp.close();

    step("a phone-sized screen");
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const m = await newPage(phone, errors);
    await m.goto(`${base}/login`);
    await logIn(m, "alice");
    await m.waitForSelector(row("Holiday"));
    assert.equal(await m.isVisible("#nav-items"), false, "the menu is folded");
    const overflow = await m.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page fits the screen (overflow ${overflow}px)`);
    await shot(m, "mobile-files");
    await m.click("button[aria-label=Menu]");
    await m.click("#nav-items >> text=Trash");
    await m.waitForSelector("h1:text('Trash')");
    await m.click("button[aria-label=Menu]");
    await m.click("#nav-items >> text=Files");
    await m.click(`${row("Holiday")} a.name`);
    await m.waitForSelector(row("days"));
    await phone.close();
  } finally {
    await browser.close();
  }
  if (errors.length) throw new Error(`errors in the page:\n${errors.join("\n")}`);
}
