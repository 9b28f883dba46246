// Public link pages (/s/{token}), for visitors without an account: a password prompt, a file
// with its preview, a shared folder to browse, or a drop zone for upload-only links. The
// password is kept for the tab only (sessionStorage) and sent in X-Link-Password.

import { api, send } from "/assets/api.js";
import { h, icon, size, when } from "/assets/dom.js";
import { preview } from "/assets/dialogs.js";
import { show } from "/assets/app.js";
import { dropped } from "/assets/upload.js";

export async function publicView(token, params) {
  const path = params.get("path") || "/";
  const key = `stratus-link:${token}`;
  const password = sessionStorage.getItem(key);
  const headers = password ? { "x-link-password": password } : {};
  let view;
  try {
    view = await api("GET", `/public/${encodeURIComponent(token)}?path=${encodeURIComponent(path)}&limit=1000`, undefined, headers);
  } catch (err) {
    if (err.status === 401) return passwordView(token, params, key, password !== null);
    return show(h("section", { class: "card auth" }, h("h1", {}, "This link does not work"),
      h("p", {}, err.status === 410 ? "It has expired or reached its download limit." : "It does not exist or was turned off.")));
  }
  // URLs carry the server's short-lived grant, never the password.
  const secret = view.grant ? `&grant=${encodeURIComponent(view.grant)}` : "";
  const download = (p) => `/s/${encodeURIComponent(token)}/download?path=${encodeURIComponent(p)}${secret}`;
  if (view.link.upload_only) return dropView(token, view, headers);
  const node = view.node;
  if (node.kind === "file") {
    return show(h("section", { class: "card public" }, h("h1", {}, [icon(node), " ", node.name]),
      h("p", { class: "muted" }, `${size(node.size)} · ${when(node.modified_at)}`, view.link.expires_at ? ` · available until ${when(view.link.expires_at)}` : ""),
      h("div", { class: "row" },
        h("a", { class: "button primary", href: download(path), download: node.name }, "Download"),
        h("button", { type: "button", onclick: () => preview(node.name, download(path)) }, "Preview"))));
  }
  const parts = path.split("/").filter(Boolean);
  const crumbs = [h("a", { href: `/s/${token}` }, "Shared folder"), ...parts.map((p, i) => {
    const to = `/${parts.slice(0, i + 1).join("/")}`;
    return i === parts.length - 1 ? h("span", { "aria-current": "page" }, p) : h("a", { href: `/s/${token}?path=${encodeURIComponent(to)}` }, p);
  })];
  const rows = view.children.items.map((c) => {
    const p = `${path.replace(/\/$/, "")}/${c.name}`;
    const name = c.kind === "folder"
      ? h("a", { href: `/s/${token}?path=${encodeURIComponent(p)}` }, [icon(c), " ", c.name])
      : h("button", { type: "button", class: "link", onclick: () => preview(c.name, download(p)) }, [icon(c), " ", c.name]);
    return h("tr", { "data-name": c.name }, h("td", {}, name), h("td", { class: "num" }, c.kind === "file" ? size(c.size) : ""),
      h("td", {}, h("a", { class: "button", href: download(p), download: c.kind === "file" ? c.name : "" }, c.kind === "file" ? "Download" : "Zip")));
  });
  show(h("section", { class: "card public" }, h("h1", {}, icon(node), " ", node.name),
    h("nav", { class: "crumbs" }, crumbs.flatMap((a, i) => (i ? [h("span", { class: "sep" }, "›"), a] : [a]))),
    h("p", {}, h("a", { class: "button primary", href: download(path), download: "" }, "Download all (zip)")),
    h("table", { class: "files" }, h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { class: "muted empty" }, "This folder is empty."))))));
}

function passwordView(token, params, key, wrong) {
  const input = h("input", { type: "password", name: "password", required: true, autofocus: true, autocomplete: "off" });
  const f = h("form", { class: "stack" }, h("label", {}, "Password", input),
    wrong ? h("p", { class: "error", role: "alert" }, "That password is not right.") : null,
    h("button", { class: "primary", type: "submit" }, "Open"));
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(key, input.value);
    publicView(token, params);
  });
  show(h("section", { class: "card auth" }, h("h1", {}, "This link has a password"), f));
}

function dropView(token, view, headers) {
  const list = h("ul", { class: "uploads" });
  const input = h("input", { type: "file", multiple: true, hidden: true, onchange: (e) => upload([...e.target.files].map((f) => [f, f.name])) });
  const zone = h("div", { class: "drop big", "data-drop": "" }, h("p", {}, "Drop files here, or ", h("button", { type: "button", class: "link", onclick: () => input.click() }, "choose files")), input);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => { e.preventDefault(); zone.classList.remove("over"); upload(await dropped(e)); });
  async function upload(files) {
    for (const [file, path] of files) {
      const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": path });
      const state = h("span", { class: "muted" }, "uploading");
      list.append(h("li", { class: "file-progress" }, h("span", { class: "name" }, path), bar, state));
      const body = new FormData();
      body.append("file", file, path.split("/").pop());
      try {
        await send("POST", `/api/v1/public/${encodeURIComponent(token)}/files?path=/`, body, (n) => { bar.value = n; }, headers).done;
        bar.value = file.size || 1;
        state.textContent = "sent";
      } catch (err) {
        state.textContent = err.message;
        state.className = "error";
      }
    }
  }
  show(h("section", { class: "card public" }, h("h1", {}, `Send files to “${view.node.name}”`),
    h("p", { class: "muted" }, "The owner will see what you send; you cannot see what is already there."), zone, list));
}
