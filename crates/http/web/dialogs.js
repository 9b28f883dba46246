// Dialogs over the file browser: preview, sharing (people, public access, links), choosing a
// folder (move, copy) and a file's versions.

import { api } from "/assets/api.js";
import { attempt, confirmed, field, form, h, icon, kindOf, modal, size, toast, when } from "/assets/dom.js";

/** Shows a file in the page: image, video, audio, PDF or the start of a text file. */
export function preview(name, url, downloadUrl = url) {
  return gallery([{ name, url, download: downloadUrl }], 0);
}

/** Shows a file of the drive in the page, a Markdown file rendered; a picture with the pictures
 * among `beside` (the folder's items) one after the other, by Previous and Next or the arrow
 * keys. */
export function previewNode(n, beside = []) {
  const item = (x) => ({
    name: x.name, url: `/api/v1/nodes/${x.id}/content?v=${x.content_hash}`, download: `/api/v1/nodes/${x.id}/content`,
    markdown: /\.(md|markdown)$/i.test(x.name) ? `/api/v1/nodes/${x.id}/markdown` : null,
  });
  const pictures = kindOf(n.name) === "image" ? beside.filter((x) => x.kind === "file" && kindOf(x.name) === "image") : [];
  const at = pictures.findIndex((x) => x.id === n.id);
  return at >= 0 ? gallery(pictures.map(item), at) : gallery([item(n)], 0);
}

// The elements a rendered Markdown file may hold (the server sends no others; any other is text).
const MARKDOWN_TAGS = new Set(["p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code", "ul", "ol", "li",
  "em", "strong", "del", "a", "table", "thead", "tr", "th", "td", "hr", "br"]);

/** A rendered Markdown block, built with DOM calls: text, or an element of MARKDOWN_TAGS. */
function element(b) {
  if (typeof b === "string") return b;
  const children = (b.c || []).map(element);
  if (!MARKDOWN_TAGS.has(b.t)) return h("span", {}, children);
  return h(b.t, { href: b.t === "a" ? b.href : null, title: b.title, start: b.t === "ol" ? b.start : null, rel: b.t === "a" ? "noopener noreferrer" : null }, children);
}

function shown({ name, url, markdown }) {
  const inline = `${url}${url.includes("?") ? "&" : "?"}inline=true`;
  const kind = kindOf(name);
  if (markdown) {
    const body = h("div", { class: "markdown-preview" }, "Loading…");
    api("GET", markdown.replace(/^\/api\/v1/, ""))
      .then((r) => {
        body.replaceChildren(...r.blocks.map(element));
        if (r.truncated) body.append(h("p", { class: "muted" }, "Only the start of this file is shown."));
      })
      .catch((err) => { body.textContent = err.message; body.classList.add("error"); });
    return body;
  }
  if (kind === "image") return h("img", { src: inline, alt: name });
  if (kind === "video") return h("video", { src: inline, controls: true, preload: "metadata" });
  if (kind === "audio") return h("audio", { src: inline, controls: true, preload: "metadata" });
  if (kind === "pdf") return h("iframe", { src: inline, title: name });
  if (kind === "text") {
    const body = h("pre", { class: "text-preview" }, "Loading…");
    fetch(url, { headers: { range: "bytes=0-262143" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`the file could not be read (${r.status})`))))
      .then((text) => { body.textContent = text; })
      .catch((err) => { body.textContent = err.message; body.classList.add("error"); });
    return body;
  }
  return h("p", { class: "muted" }, "There is no preview for this kind of file.");
}

/** A preview of `items[at]`, stepping through the others. */
function gallery(items, at) {
  return modal(items[at].name, () => {
    const box = h("div", { class: "preview" });
    const go = (to) => {
      if (to < 0 || to >= items.length) return;
      at = to;
      const item = items[at];
      const dialog = box.closest("dialog");
      dialog?.setAttribute("aria-label", item.name);
      if (dialog) dialog.querySelector("header h2").textContent = item.name;
      const step = items.length > 1 ? [
        h("button", { type: "button", disabled: at === 0, onclick: () => go(at - 1) }, "‹ Previous"),
        h("span", { class: "muted" }, `${at + 1} of ${items.length}`),
        h("button", { type: "button", disabled: at === items.length - 1, onclick: () => go(at + 1) }, "Next ›"),
      ] : [];
      box.replaceChildren(shown(item), h("p", { class: "row" }, ...step,
        h("a", { class: "button primary", href: item.download, download: item.name }, "Download")));
    };
    go(at);
    queueMicrotask(() => box.closest("dialog")?.addEventListener("keydown", (e) => {
      if (e.target.closest?.("video, audio, input")) return;
      if (e.key === "ArrowLeft") { e.preventDefault(); go(at - 1); }
      if (e.key === "ArrowRight") { e.preventDefault(); go(at + 1); }
    }));
    return box;
  });
}

/** Lets the user pick a folder of their drive; resolves with its id (or null). */
export function chooseFolder(title, root, verb, rootName = "My files") {
  return modal(title, (close) => {
    const box = h("div", { class: "stack" });
    async function open(id, trail) {
      const page = await api("GET", `/nodes/${id}/children?limit=1000`);
      const folders = page.items.filter((n) => n.kind === "folder");
      box.replaceChildren(
        h("nav", { class: "crumbs" }, trail.map(([tid, name], i) =>
          h("button", { type: "button", class: "link", onclick: () => open(tid, trail.slice(0, i + 1)) }, name))),
        h("ul", { class: "picker" }, folders.length ? folders.map((f) => h("li", {},
          h("button", { type: "button", class: "link", onclick: () => open(f.id, [...trail, [f.id, f.name]]) }, icon(f), " ", f.name)))
          : h("li", { class: "muted" }, "No folders here")),
        h("div", { class: "row end" }, h("button", { type: "button", onclick: () => close() }, "Cancel"),
          h("button", { type: "button", class: "primary", onclick: () => close(id) }, `${verb} here`)));
    }
    open(root, [[root, rootName]]).catch((err) => box.replaceChildren(h("p", { class: "error" }, err.message)));
    return box;
  });
}

/** The versions of a file: download any, restore an older one. */
export function versions(node, changed) {
  return modal(`Versions of ${node.name}`, (close) => {
    const list = h("ul", { class: "list" }, h("li", { class: "muted" }, "Loading…"));
    api("GET", `/nodes/${node.id}/versions`).then((page) => {
      list.replaceChildren(...page.items.map((v, i) => h("li", { class: "row" },
        h("span", { class: "grow" }, when(v.created_at), " · ", size(v.size), i === 0 ? h("strong", {}, " · current") : ""),
        h("a", { class: "button", href: `/api/v1/nodes/${node.id}/versions/${v.id}/content`, download: node.name }, "Download"),
        i > 0 ? h("button", { type: "button", onclick: () => attempt(async () => {
          await api("POST", `/nodes/${node.id}/versions/${v.id}/restore`);
          close();
          changed();
        }, "The older version is now the current one (the newer one is kept as a version).") }, "Restore") : null)));
    }).catch((err) => list.replaceChildren(h("li", { class: "error" }, err.message)));
    return list;
  });
}

/** Who can reach an item: people with roles, public access and public links. */
export function share(node) {
  return modal(`Share ${node.name}`, () => {
    const people = h("ul", { class: "list" });
    const links = h("ul", { class: "list" });
    const refresh = async () => {
      const [shares, linkPage] = await Promise.all([api("GET", `/nodes/${node.id}/shares`), api("GET", `/nodes/${node.id}/links`)]);
      people.replaceChildren(...(shares.items.length ? shares.items.map((s) => personRow(node, s, refresh)) : [h("li", { class: "muted" }, "Not shared with anyone yet.")]));
      links.replaceChildren(...(linkPage.items.length ? linkPage.items.map((l) => linkRow(l, refresh)) : [h("li", { class: "muted" }, "No public links.")]));
    };
    refresh().catch((err) => toast(err.message, "error"));

    const addPerson = form([
      field("Username or email", { name: "user", required: true, autocomplete: "off" }),
      roleSelect("viewer"),
    ], "Share", async (d, f) => {
      await api("POST", `/nodes/${node.id}/shares`, d);
      f.reset();
      toast(`Shared with ${d.user}`);
      await refresh();
    });
    addPerson.classList.add("inline");

    const access = h("select", { name: "public_access", "aria-label": "Access by address" },
      [["none", "Only people it is shared with"], ["view", "Anyone with its address can view"], ["edit", "Anyone with its address can edit"]]
        .map(([v, label]) => h("option", { value: v, selected: node.public_access === v }, label)));
    access.addEventListener("change", () => attempt(async () => {
      Object.assign(node, await api("PATCH", `/nodes/${node.id}`, { public_access: access.value }));
    }, "Access changed"));

    const addLink = form([
      field("Expires", { name: "expires", type: "date" }),
      field("Password", { name: "password", type: "password", autocomplete: "new-password" }),
      field("Download limit", { name: "max_downloads", type: "number", min: 1 }),
      node.kind === "folder" ? h("label", { class: "check" }, h("input", { type: "checkbox", name: "upload_only" }), "File drop (visitors can only upload)") : null,
    ].filter(Boolean), "Create link", async (d, f) => {
      const body = { upload_only: d.upload_only === "on" };
      if (d.expires) body.expires_at = new Date(`${d.expires}T23:59:59`).toISOString();
      if (d.password) body.password = d.password;
      if (d.max_downloads) body.max_downloads = Number(d.max_downloads);
      const link = await api("POST", `/nodes/${node.id}/links`, body);
      f.reset();
      await copy(link.url);
      await refresh();
    });
    addLink.classList.add("inline");

    return h("div", { class: "stack share" },
      h("h3", {}, "People"), people, addPerson,
      h("h3", {}, "Access by address"), access,
      h("h3", {}, "Public links"), links, addLink);
  });
}

function roleSelect(value, onchange) {
  return h("label", {}, "Role", h("select", { name: "role", onchange },
    h("option", { value: "viewer", selected: value === "viewer" }, "Viewer (can see and download)"),
    h("option", { value: "editor", selected: value === "editor" }, "Editor (can also change)")));
}

function personRow(node, s, refresh) {
  const role = roleSelect(s.role, (e) => attempt(() => api("PATCH", `/nodes/${node.id}/shares/${s.id}`, { role: e.target.value }), `${s.username} is now ${e.target.value}`));
  return h("li", { class: "row", "data-user": s.username }, h("span", { class: "grow" }, s.username), role,
    h("button", { type: "button", class: "danger", onclick: () => attempt(async () => { await api("DELETE", `/nodes/${node.id}/shares/${s.id}`); await refresh(); }, `${s.username} no longer has access`) }, "Remove"));
}

function linkRow(l, refresh) {
  const facts = [
    l.upload_only ? "file drop" : "view and download",
    l.has_password ? "password" : null,
    l.expires_at ? `until ${new Date(l.expires_at).toLocaleDateString()}` : null,
    l.max_downloads ? `${l.downloads}/${l.max_downloads} downloads` : `${l.downloads} downloads`,
    l.active ? null : "disabled",
  ].filter(Boolean).join(" · ");
  return h("li", { class: "row wrap", "data-link": l.token },
    h("span", { class: "grow" }, h("a", { href: l.url, target: "_blank", rel: "noopener" }, l.url), h("br"), h("small", { class: "muted" }, facts)),
    h("button", { type: "button", onclick: () => copy(l.url) }, "Copy link"),
    h("button", { type: "button", onclick: () => attempt(async () => { await api("PATCH", `/links/${l.id}`, { active: !l.active }); await refresh(); }) }, l.active ? "Disable" : "Enable"),
    h("button", { type: "button", class: "danger", onclick: () => attempt(async () => { await api("DELETE", `/links/${l.id}`); await refresh(); }, "Link deleted") }, "Delete"));
}

async function copy(url) {
  const full = new URL(url, location.origin).href;
  try {
    await navigator.clipboard.writeText(full);
    toast("Link copied to the clipboard");
  } catch {
    toast(`Link: ${full}`);
  }
}

/** Asks before moving items to the trash. */
export async function trashItems(nodes, changed) {
  const what = nodes.length === 1 ? `“${nodes[0].name}”` : `${nodes.length} items`;
  if (!(await confirmed("Move to trash?", `${what} will be kept in the trash for 30 days.`, "Move to trash"))) return;
  for (const n of nodes) if (!(await attempt(() => api("DELETE", `/nodes/${n.id}`).then(() => true)))) break;
  toast(`${what} moved to the trash`);
  changed();
}
