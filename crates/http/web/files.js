// The file browser: breadcrumbs, a sortable list with thumbnails, folders opened without
// reloads, multi-select, uploads by picker or drag and drop, rows dragged onto folders and
// breadcrumbs to move them, and the actions on items; as a list, or as a grid of large
// thumbnails (the choice is remembered).

import { api, trail } from "/assets/api.js";
import { ask, attempt, h, icon, modal, size, toast, when } from "/assets/dom.js";
import { chooseFolder, previewNode, share, trashItems, versions } from "/assets/dialogs.js";
import { dropped, forgetPending, pendingIn, uploadAll } from "/assets/upload.js";
import { go, refreshMe, session, show } from "/assets/app.js";
import { windowed } from "/assets/vlist.js";

// The first page of a folder is small, to be on screen at once; the rest come in large pages.
const FIRST_PAGE = 200;
const NEXT_PAGE = 1000;
// How many entries a reload after an action loads again, at most, to stay where the user was.
const KEEP_LOADED = 20_000;
// The pictures the server makes thumbnails of (up to 64 MiB), and how they are told apart.
const THUMBNAIL_MAX = 64 * 1024 * 1024;
const PICTURE = /\.(jpe?g|png|gif|webp)$/i;
// The file browser's keys, as `?` lists them; the files view on screen answers them.
const KEYS = [
  ["/", "Search"], ["n", "New folder"], ["↑ ↓", "Move between items"], ["Enter", "Open the item"],
  ["Space", "Select or unselect the item"], ["Shift + F10", "The item's actions"], ["Shift + click", "Select a range"], ["Ctrl/⌘ + A", "Select all"],
  ["F2", "Rename"], ["Delete", "Move to the trash"], ["Escape", "Clear the selection"], ["?", "This list"],
];
let onKey = null;
document.addEventListener("keydown", (e) => onKey?.(e));

function shortcuts() {
  return modal("Keyboard shortcuts", () => h("dl", { class: "keys" }, KEYS.flatMap(([k, what]) => [h("dt", {}, h("kbd", {}, k)), h("dd", {}, what)])));
}

// What a dragged row carries: the ids of the items it moves.
const DRAGGED = "application/x-stratus-nodes";
// Uploads keep showing while the user moves between folders.
const uploads = h("section", { class: "uploads-box", "aria-live": "polite", "aria-label": "Uploads" });

/** The chain of folders from the drive's root (or the first one the user may not read); each
 * folder above this one takes dropped rows and files (`into`). */
function crumbs(chain, into, shared) {
  const label = (n) => (n.parent_id ? n.name : "My files");
  const items = chain.map((n, i) => (i === chain.length - 1
    ? h("h1", { "aria-current": "page" }, label(n))
    : into(h("a", { href: `/files/${n.id}` }, label(n)), n)));
  // Someone else's folder is reached from Shared with me, and leads back there.
  if (shared) items.unshift(h("a", { href: "/shared" }, "Shared with me"));
  return h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, items.flatMap((a, i) => (i ? [h("span", { class: "sep", "aria-hidden": "true" }, "›"), a] : [a])));
}

export async function filesView(folderId, params) {
  const sort = params.get("sort") || "name";
  const order = params.get("order") || "asc";
  const here = location.pathname + location.search;
  const folder = await api("GET", `/nodes/${folderId}`);
  if (folder.kind !== "folder") {
    await previewNode(folder);
    return go(`/files/${folder.parent_id}`);
  }
  // What the caller may do here: all of it in their own drive; in someone else's, what the
  // share they reached it by allows (its top is where a move may go).
  const chain = await trail(folder);
  const own = folder.owner_id === session.me.id;
  let role = own ? "owner" : "viewer";
  let shareTop = null;
  if (!own) {
    const shared = await api("GET", "/shared-with-me").catch(() => ({ items: [] }));
    const roles = new Map(shared.items.map((s) => [s.node.id, s.role]));
    shareTop = chain.find((n) => roles.has(n.id)) || null;
    if (chain.some((n) => roles.get(n.id) === "editor")) role = "editor";
  }
  const can = { write: role !== "viewer", share: own };
  const moveRoot = shareTop ? [shareTop.id, shareTop.name] : [session.me.root_id, "My files"];
  const selected = new Map();
  const grid = localStorage.getItem("stratus-view") === "grid";
  const tbody = h("tbody");
  // Where the items go: the table's body, or the grid's cards.
  const items = grid ? h("ul", { class: "grid", "aria-label": `Contents of ${folder.parent_id ? folder.name : "My files"}` }) : tbody;
  const count = h("p", { class: "muted count", "aria-live": "polite" });
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select all" });
  const bar = h("div", { class: "selection", hidden: true });
  const refresh = () => {
    refreshMe().catch(() => {}); // the usage bar
    return location.pathname + location.search === here && load(entries.length);
  };

  // What the folder holds: every entry loaded so far, in the listing's order.
  const entries = [];
  const index = new Map(); // id → position in `entries`
  let cursor = null;
  let total = 0;
  let generation = 0; // a reload starts a new one; pages of an older one are dropped

  function updateSelection() {
    bar.hidden = selected.size === 0;
    const nodes = [...selected.values()];
    bar.replaceChildren(...[
      h("strong", {}, selected.size === total && total > 1 ? `All ${total.toLocaleString()} selected` : `${selected.size.toLocaleString()} selected`),
      nodes.length === 1 && nodes[0].kind === "file"
        ? h("a", { class: "button", href: `/api/v1/nodes/${nodes[0].id}/content`, download: nodes[0].name }, "Download")
        : nodes.length <= 1000 ? h("a", { class: "button", href: `/api/v1/zip?items=${nodes.map((n) => n.id).join(",")}`, download: "" }, "Download as zip") : null,
      can.write ? h("button", { type: "button", onclick: () => moveOrCopy(nodes, "move", refresh, moveRoot) }, "Move") : null,
      h("button", { type: "button", onclick: () => moveOrCopy(nodes, "copy", refresh) }, "Copy"),
      can.write ? h("button", { type: "button", class: "danger", onclick: () => trashItems(nodes, refresh) }, "Delete") : null,
      h("button", { type: "button", onclick: () => clear() }, "Clear"),
    ].filter(Boolean));
  }
  // The boxes on screen show the selection, which holds entries drawn or not.
  const showChecks = () => {
    for (const [i, el] of list.drawn()) el.querySelector("input[type=checkbox]").checked = selected.has(entries[i].id);
  };
  // Select all means all: the entries not loaded yet are loaded first.
  selectAll.addEventListener("change", () => attempt(async () => {
    if (!selectAll.checked) return clear();
    if (entries.length < total) {
      bar.hidden = false;
      bar.replaceChildren(h("strong", {}, `Selecting all ${total.toLocaleString()}…`));
      await list.loadAll();
    }
    if (!selectAll.checked) return;
    for (const n of entries) selected.set(n.id, n);
    showChecks();
    updateSelection();
  }));

  const clear = () => {
    selected.clear();
    showChecks();
    selectAll.checked = false;
    updateSelection();
  };
  // The row last focused: the arrow keys go on from it when it scrolled out of the window.
  let lastFocus = -1;
  items.addEventListener("focusin", (e) => {
    const at = e.target.closest("[data-id]");
    if (at) lastFocus = index.get(at.dataset.id) ?? -1;
  });
  // Shift-click selects (or unselects) everything between the last box clicked and this one.
  let anchor = null;
  items.addEventListener("click", (e) => {
    const box = e.target.closest("input[type=checkbox]");
    if (!box) return;
    const at = index.get(box.closest("[data-id]").dataset.id);
    if (e.shiftKey && anchor !== null && index.has(anchor) && anchor !== entries[at].id) {
      const [a, b] = [index.get(anchor), at].sort((x, y) => x - y);
      for (const n of entries.slice(a, b + 1)) {
        if (box.checked) selected.set(n.id, n); else selected.delete(n.id);
      }
      showChecks();
    }
    anchor = entries[at].id;
  });

  const query = (limit, after) => `sort=${sort}&order=${order}&limit=${limit}${after ? `&cursor=${encodeURIComponent(after)}` : ""}`;
  const add = (page) => {
    for (const n of page.items) { index.set(n.id, entries.length); entries.push(n); }
    cursor = page.next_cursor;
  };
  const emptyNote = () => {
    const empty = "This folder is empty. Drop files here or use Upload.";
    items.replaceChildren(grid ? h("li", { class: "muted empty" }, empty) : h("tr", {}, h("td", { colspan: 5, class: "muted empty" }, empty)));
  };
  /** The folder afresh: its count, and as many entries as `depth` (what was loaded before an
   * action, up to KEEP_LOADED), so the list stays where the user was; the old list shows until
   * the new one is in. The selection keeps the items still here. */
  async function load(depth = 0) {
    const first = await api("GET", `/nodes/${folderId}/children?${query(FIRST_PAGE)}`);
    const pages = [first];
    let loaded = first.items.length;
    for (let next = first.next_cursor; next && loaded < Math.min(depth, KEEP_LOADED);) {
      const page = await api("GET", `/nodes/${folderId}/children?${query(NEXT_PAGE, next)}`);
      pages.push(page);
      loaded += page.items.length;
      next = page.next_cursor;
    }
    generation++;
    entries.length = 0;
    index.clear();
    lastFocus = -1;
    pages.forEach(add);
    total = first.total ?? entries.length;
    count.textContent = `${total.toLocaleString()} item${total === 1 ? "" : "s"}`;
    table.setAttribute("aria-rowcount", String(total + 1));
    const kept = entries.filter((n) => selected.has(n.id));
    selected.clear();
    for (const n of kept) selected.set(n.id, n);
    selectAll.checked = total > 0 && selected.size === total;
    updateSelection();
    list.reset();
    if (!entries.length) emptyNote();
  }
  /** The next page, as the list scrolls near the end of what is loaded. */
  async function more() {
    if (!cursor) return false;
    const at = generation;
    const page = await api("GET", `/nodes/${folderId}/children?${query(NEXT_PAGE, cursor)}`);
    if (at === generation) add(page);
    return true;
  }
  const list = windowed({
    box: items, entries, more,
    failed: (err) => toast(`The rest of this folder could not be loaded: ${err.message}`, "error"),
    total: () => total,
    draw: (i) => {
      const el = row(entries[i], selected, updateSelection, refresh, { into, dragged, grid, can, moveRoot, entries });
      if (!grid) el.setAttribute("aria-rowindex", String(i + 2));
      el.querySelector("input[type=checkbox]").checked = selected.has(entries[i].id);
      return el;
    },
    spacer: () => (grid ? h("li", { class: "spacer", "aria-hidden": "true" }) : h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: 5 }))),
  });

  // The header a list is sorted by says so (`aria-sort`); its button sorts the other way.
  const sortHeader = (key, label, cls) => {
    const next = sort === key && order === "asc" ? "desc" : "asc";
    const mark = sort === key ? (order === "asc" ? " ▲" : " ▼") : "";
    return h("th", { class: cls, "aria-sort": sort === key ? `${order}ending` : null },
      h("button", { type: "button", class: "link", onclick: () => go(`/files/${folderId}?sort=${key}&order=${next}`) }, label + mark));
  };
  const table = h("table", { class: "files listing" },
    h("thead", {}, h("tr", {}, h("th", { class: "pick" }, selectAll), sortHeader("name", "Name"),
      sortHeader("size", "Size", "num"), sortHeader("modified", "Modified", "when"),
      h("th", { class: "acts" }, h("span", { class: "sr-only" }, "Actions")))),
    tbody);

  const upload = (files, into = folderId) => uploadAll(into, files, uploads, refresh);
  // A folder row or breadcrumb takes rows dragged onto it (moved there) and files dropped on it
  // (uploaded there), instead of the folder on screen.
  const into = (el, target) => {
    const carries = (e) => e.dataTransfer?.types?.includes(DRAGGED) || e.dataTransfer?.types?.includes("Files");
    el.addEventListener("dragover", (e) => {
      if (!carries(e)) return;
      e.preventDefault();
      e.stopPropagation();
      e.dataTransfer.dropEffect = e.dataTransfer.types.includes(DRAGGED) ? "move" : "copy";
      el.classList.add("target");
    });
    el.addEventListener("dragleave", () => el.classList.remove("target"));
    el.addEventListener("drop", async (e) => {
      if (!carries(e)) return;
      e.preventDefault();
      e.stopPropagation();
      el.classList.remove("target");
      drop.classList.remove("over");
      const ids = e.dataTransfer.types.includes(DRAGGED) && e.dataTransfer.getData(DRAGGED);
      if (ids) await moveInto(JSON.parse(ids).filter((id) => id !== target.id), target, refresh);
      else upload(await dropped(e), target.id);
    });
    return el;
  };
  const dragged = (n) => (selected.has(n.id) ? [...selected.keys()] : [n.id]);
  const picker = h("input", { type: "file", multiple: true, hidden: true, "data-upload": "files", onchange: (e) => upload([...e.target.files].map((f) => [f, f.name])) });
  const folderPicker = h("input", { type: "file", webkitdirectory: true, hidden: true, "data-upload": "folder", onchange: (e) => upload([...e.target.files].map((f) => [f, f.webkitRelativePath])) });
  const drop = h("div", { class: "drop", "data-drop": "" },
    grid ? [h("label", { class: "row select-all" }, selectAll, "Select all"), items] : table);
  // Rows dragged within the folder they are in stay where they are.
  drop.addEventListener("dragover", (e) => {
    if (!can.write || e.dataTransfer?.types?.includes(DRAGGED)) return;
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", (e) => { if (!drop.contains(e.relatedTarget)) drop.classList.remove("over"); });
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    if (!can.write) return;
    drop.classList.remove("over");
    upload(await dropped(e));
  });

  // A view that fails to load is never shown: its list stops listening to the page.
  await load().catch((err) => { list.stop(); throw err; });
  // Uploads into this folder that a reload or a closed tab cut short: the same file picked
  // again resumes where it stopped.
  const unfinished = h("section", { class: "card pending", "aria-label": "Unfinished uploads" });
  const showPending = () => {
    const pending = pendingIn(folderId);
    unfinished.hidden = !pending.length;
    unfinished.replaceChildren(h("strong", {}, "Unfinished uploads"), h("ul", { class: "uploads" }, pending.map((p) => {
      const pick = h("input", { type: "file", hidden: true, "data-resume": p.name, onchange: (e) => {
        const file = e.target.files[0];
        if (!file) return;
        if (file.size !== p.size) return toast(`That is not “${p.name}” (${size(p.size)})`, "error");
        upload([[file, p.name]]).finally(showPending);
        showPending();
      } });
      return h("li", { class: "row", "data-pending": p.name }, h("span", { class: "name" }, `${p.name} (${size(p.size)})`),
        h("button", { type: "button", onclick: () => pick.click() }, "Pick the file again to resume"),
        h("button", { type: "button", onclick: async () => { await forgetPending(p.key); showPending(); } }, "Forget"), pick);
    })));
  };
  showPending();
  onKey = (e) => {
    if (!document.contains(items)) { onKey = null; return; }
    const t = e.target;
    const typing = t.closest?.("input, textarea, select, [contenteditable]") && t.type !== "checkbox";
    if (e.defaultPrevented || e.altKey || typing || document.querySelector("dialog[open]")) return;
    const at = t.closest?.("[data-id]");
    const i = at ? index.get(at.dataset.id) : -1;
    const one = at ? entries[i] : selected.size === 1 ? [...selected.values()][0] : null;
    const mod = e.ctrlKey || e.metaKey;
    const handled = () => e.preventDefault();
    if (e.key === "/" && !mod) { handled(); document.querySelector("input[name=q]")?.focus(); }
    else if (e.key === "n" && !mod && can.write) { handled(); newFolder(folderId, refresh); }
    else if (e.key === "?") { handled(); shortcuts(); }
    else if (mod && e.key.toLowerCase() === "a") { handled(); selectAll.checked = true; selectAll.dispatchEvent(new Event("change")); }
    else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && entries.length && (at || t === document.body || t.id === "app")) {
      handled();
      const from = at ? i : lastFocus;
      list.element(e.key === "ArrowDown" ? Math.min(from + 1, entries.length - 1) : Math.max(from - 1, 0))?.focus();
    } else if (e.key === "Enter" && at && t === at) { handled(); at.querySelector(".name").click(); }
    else if (e.key === " " && at && t === at) { handled(); at.querySelector("input[type=checkbox]").click(); }
    else if ((e.key === "ContextMenu" || (e.key === "F10" && e.shiftKey)) && at && t === at) {
      handled();
      const menu = at.querySelector("details.menu");
      menu.open = true;
      menu.querySelector(".menu-items > *")?.focus();
    }
    else if (e.key === "F2" && one && can.write) { handled(); rename(one, refresh); }
    else if (e.key === "Delete" && (selected.size || one) && can.write) { handled(); trashItems(selected.size ? [...selected.values()] : [one], refresh); }
    else if (e.key === "Escape" && selected.size) { handled(); clear(); }
  };
  show(
    h("div", { class: "head" }, crumbs(chain, can.write ? into : (el) => el, !own), count,
      own ? null : h("span", { class: "badge" }, `shared with you${role === "viewer" ? " to view" : " to edit"}`)),
    h("div", { class: "toolbar" },
      can.write ? h("button", { type: "button", class: "primary", onclick: () => picker.click() }, "Upload files") : null,
      can.write ? h("button", { type: "button", onclick: () => folderPicker.click() }, "Upload a folder") : null,
      can.write ? h("button", { type: "button", onclick: () => newFolder(folderId, refresh) }, "New folder") : null,
      h("button", { type: "button", onclick: shortcuts, "aria-label": "Keyboard shortcuts" }, "?"),
      h("button", { type: "button", "aria-pressed": String(grid), onclick: () => {
        localStorage.setItem("stratus-view", grid ? "list" : "grid");
        go(location.pathname + location.search);
      } }, "Grid view"),
      h("a", { class: "button", href: `/api/v1/nodes/${folderId}/zip`, download: "" }, "Download as zip"),
      folder.parent_id && folder.owner_id === session.me.id ? h("button", { type: "button", onclick: () => share(folder) }, "Share folder") : null,
      picker, folderPicker),
    bar, unfinished, uploads, drop,
  );
  list.update();
}

function row(n, selected, updateSelection, refresh, drag) {
  // A row is one Tab stop: its controls are reached by click, or from the row by key (Space,
  // Enter, Shift + F10).
  const check = h("input", { type: "checkbox", "aria-label": `Select ${n.name}`, tabindex: "-1" });
  check.addEventListener("change", () => { if (check.checked) selected.set(n.id, n); else selected.delete(n.id); updateSelection(); });
  // Made on the server, and named by the content it shows: a new picture is a new URL.
  const typeIcon = () => h("span", { class: "thumb", "aria-hidden": "true" }, icon(n));
  const thumb = n.kind === "file" && PICTURE.test(n.name) && n.size <= THUMBNAIL_MAX
    ? h("img", {
      class: "thumb", loading: "lazy", alt: "", src: `/api/v1/nodes/${n.id}/thumbnail?size=${drag.grid ? 256 : 64}&v=${n.content_hash}`,
      onerror: (e) => e.target.replaceWith(typeIcon()),
    })
    : typeIcon();
  const name = n.kind === "folder"
    ? h("a", { href: `/files/${n.id}`, class: "name", tabindex: "-1", title: n.name }, n.name)
    : h("button", { type: "button", class: "link name", tabindex: "-1", title: n.name, onclick: () => previewNode(n, drag.entries) }, n.name);
  const menu = h("details", { class: "menu" }, h("summary", { "aria-label": `Actions for ${n.name}`, tabindex: "-1" }, "⋯"),
    h("div", { class: "menu-items" },
      n.kind === "file" ? h("a", { class: "button", href: `/api/v1/nodes/${n.id}/content`, download: n.name }, "Download") : h("a", { class: "button", href: `/api/v1/nodes/${n.id}/zip`, download: "" }, "Download as zip"),
      drag.can.share ? h("button", { type: "button", onclick: () => share(n) }, "Share") : null,
      drag.can.write ? h("button", { type: "button", onclick: () => rename(n, refresh) }, "Rename") : null,
      drag.can.write ? h("button", { type: "button", onclick: () => moveOrCopy([n], "move", refresh, drag.moveRoot) }, "Move") : null,
      h("button", { type: "button", onclick: () => moveOrCopy([n], "copy", refresh) }, "Copy"),
      n.kind === "file" && drag.can.write ? h("button", { type: "button", onclick: () => versions(n, refresh) }, "Versions") : null,
      drag.can.write ? h("button", { type: "button", class: "danger", onclick: () => trashItems([n], refresh) }, "Delete") : null));
  // One menu open at a time; choosing an item closes it.
  menu.addEventListener("toggle", () => menu.open && document.querySelectorAll("details.menu[open]").forEach((d) => d !== menu && d.removeAttribute("open")));
  menu.addEventListener("click", (e) => e.target.closest(".menu-items") && menu.removeAttribute("open"));
  menu.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !menu.open) return;
    e.preventDefault();
    menu.removeAttribute("open");
    menu.querySelector("summary").focus();
  });
  const tr = drag.grid
    ? h("li", { class: "card-item", "data-id": n.id, "data-name": n.name, draggable: drag.can.write ? "true" : null, tabindex: "0" },
      h("div", { class: "card-top" }, check, menu), thumb, name,
      h("span", { class: "muted" }, n.kind === "file" ? size(n.size) : ""))
    : h("tr", { "data-id": n.id, "data-name": n.name, draggable: drag.can.write ? "true" : null, tabindex: "0" },
      h("td", { class: "pick" }, check),
      h("td", {}, h("div", { class: "name-cell" }, thumb, name)),
      h("td", { class: "num" }, n.kind === "file" ? size(n.size) : ""),
      h("td", { class: "when" }, when(n.modified_at)),
      h("td", { class: "acts" }, menu));
  // Dragged, a row carries itself, or the whole selection when it is part of it.
  tr.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData(DRAGGED, JSON.stringify(drag.dragged(n)));
    e.dataTransfer.effectAllowed = "move";
  });
  return n.kind === "folder" && drag.can.write ? drag.into(tr, n) : tr;
}

/** Moves the items `ids` into `folder` (dropped there), one by one, stopping at a refusal. */
async function moveInto(ids, folder, refresh) {
  let done = 0;
  for (const id of ids) {
    if (!(await attempt(() => api("PATCH", `/nodes/${id}`, { parent_id: folder.id })))) break;
    done++;
  }
  if (done) toast(`${done} item${done > 1 ? "s" : ""} moved to “${folder.parent_id ? folder.name : "My files"}”`);
  refresh();
}

/** Asks for a name until `act(name)` takes it: a name that is taken or invalid asks again,
 * with what was typed and what was wrong; another failure is a toast. */
async function named(title, label, value, submit, act, done) {
  let problem = "";
  for (;;) {
    value = await ask(title, label, value, submit, problem);
    if (!value) return;
    try {
      await act(value);
      toast(done(value));
      return;
    } catch (err) {
      if (err.code !== "name_conflict" && err.code !== "invalid_name") return toast(err.message, "error");
      problem = err.code === "name_conflict" ? `“${value}” is already taken here.` : err.message;
    }
  }
}

async function newFolder(parent, refresh) {
  await named("New folder", "Name", "", "Create", async (name) => {
    await api("POST", `/nodes/${parent}/children`, { name, kind: "folder" });
    refresh();
  }, (name) => `Folder “${name}” created`);
}

async function rename(n, refresh) {
  await named(`Rename ${n.kind}`, "New name", n.name, "Rename", async (name) => {
    if (name !== n.name) await api("PATCH", `/nodes/${n.id}`, { name });
    refresh();
  }, (name) => `Renamed to “${name}”`);
}

/** `name (copy).ext`, then `name (copy 2).ext`…: a copy's name beside its original. */
function copyName(name, kind, n) {
  const dot = kind === "file" ? name.lastIndexOf(".") : -1;
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  return `${stem} (copy${n > 1 ? ` ${n}` : ""})${ext}`;
}

/** Moves or copies `nodes` into a folder the user picks: a move stays in the drive they are in
 * (`[root, name]`: the top of the share they reached it by), a copy goes to their own. */
async function moveOrCopy(nodes, verb, refresh, [root, rootName] = [session.me.root_id, "My files"]) {
  const title = `${verb === "move" ? "Move" : "Copy"} ${nodes.length === 1 ? `“${nodes[0].name}”` : `${nodes.length} items`}`;
  const target = await chooseFolder(title, verb === "move" ? root : session.me.root_id, verb === "move" ? "Move" : "Copy", verb === "move" ? rootName : "My files");
  if (!target) return;
  let done = 0;
  // A copy into its own folder is named `… (copy)`, numbered on until a name is free.
  const copy = async (n) => {
    if (target !== n.parent_id) return api("POST", `/nodes/${n.id}/copy`, { parent_id: target });
    for (let i = 1; ; i++) {
      try {
        return await api("POST", `/nodes/${n.id}/copy`, { parent_id: target, name: copyName(n.name, n.kind, i) });
      } catch (err) {
        if (err.code !== "name_conflict" || i >= 50) throw err;
      }
    }
  };
  for (const n of nodes) {
    const ok = await attempt(() => (verb === "move" ? api("PATCH", `/nodes/${n.id}`, { parent_id: target }) : copy(n)));
    if (!ok) break;
    done++;
  }
  if (done) toast(`${done} item${done > 1 ? "s" : ""} ${verb === "move" ? "moved" : "copied"}`);
  refresh();
}
