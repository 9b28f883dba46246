// Stratus in the browser: a small router over the History API, the top bar, and one view per
// page. Views live in their own modules; this one knows who is logged in (`session.me`).

import { api } from "/assets/api.js";
import { h, size } from "/assets/dom.js";
import { forgotView, loginView, resetView, signupView, verifyView } from "/assets/auth.js";
import { filesView } from "/assets/files.js";
import { planView, searchView, sharedView, statsView, trashView } from "/assets/pages.js";
import { grantView, profileView } from "/assets/account.js";
import { adminView } from "/assets/admin.js";
import { publicView } from "/assets/public.js";

const app = document.getElementById("app");
export const session = { me: null };

/** Light, dark, or (`""`) as the system says; kept in this browser. */
export function setTheme(theme) {
  if (theme) localStorage.setItem("stratus-theme", theme); else localStorage.removeItem("stratus-theme");
  if (theme) document.documentElement.dataset.theme = theme; else delete document.documentElement.dataset.theme;
}
setTheme(localStorage.getItem("stratus-theme") || "");

export function go(path) {
  history.pushState(null, "", path);
  route();
}

// Same-origin links navigate without reloading.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href^='/']");
  if (!a || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (a.target || a.hasAttribute("download") || href.startsWith("/api/") || href.startsWith("/dl/")) return;
  e.preventDefault();
  go(href);
});
addEventListener("popstate", route);

export function show(...children) {
  app.replaceChildren(...children);
  document.querySelectorAll("dialog[open]").forEach((d) => d.close());
  app.focus({ preventScroll: true });
}

export async function refreshMe() {
  session.me = await api("GET", "/me");
  nav();
}

function nav() {
  const box = document.getElementById("nav");
  const me = session.me;
  if (!me) return box.replaceChildren(h("a", { href: "/login" }, "Log in"), h("a", { href: "/signup" }, "Sign up"));
  const search = h("form", { class: "search", role: "search" },
    h("input", { type: "search", name: "q", placeholder: "Search your drive", "aria-label": "Search your drive", value: new URLSearchParams(location.search).get("q") || "" }));
  search.addEventListener("submit", (e) => { e.preventDefault(); go(`/search?q=${encodeURIComponent(search.q.value)}`); });
  const links = [["/files", "Files"], ["/shared", "Shared with me"], ["/trash", "Trash"], ["/stats", "Statistics"], ["/plan", "Plan"], ["/profile", "Profile"]];
  if (me.is_admin) links.push(["/admin", "Admin"]);
  const current = location.pathname.split("/")[1];
  const ratio = me.quota.used / Math.max(1, me.quota.limit);
  const toggle = h("button", { type: "button", class: "icon menu-toggle", "aria-expanded": "false", "aria-controls": "nav-items", "aria-label": "Menu" }, "☰");
  toggle.addEventListener("click", () => toggle.setAttribute("aria-expanded", String(box.classList.toggle("open"))));
  const items = h("div", { id: "nav-items", class: "nav-items" },
    links.map(([href, label]) => h("a", { href, "aria-current": href.slice(1) === current ? "page" : null }, label)),
    h("a", { href: "/plan", class: "usage-link", title: "Storage used" },
      h("progress", { max: 1000, value: Math.round(Math.min(1, ratio) * 1000), "aria-label": "Storage used" }),
      h("small", {}, `${size(me.quota.used)} of ${size(me.quota.limit)}`)),
    me.has_photo ? h("img", { class: "avatar", alt: "", src: `/api/v1/users/${me.id}/photo` }) : null,
    h("button", { type: "button", onclick: logout }, "Log out"));
  items.addEventListener("click", (e) => e.target.closest("a,button") && box.classList.remove("open"));
  box.classList.remove("open");
  box.replaceChildren(search, toggle, items);
}

async function logout() {
  await api("POST", "/auth/logout").catch(() => {});
  session.me = null;
  // What this browser kept of the user's uploads (names, sizes, session ids) goes with them.
  for (const key of Object.keys(localStorage)) if (key.startsWith("stratus-upload:") || key === "stratus-pending-uploads") localStorage.removeItem(key);
  go("/login");
}

const open = { "/login": loginView, "/signup": signupView, "/forgot": forgotView, "/reset-password": resetView, "/verify-email": verifyView };
const pages = { "/shared": sharedView, "/search": searchView, "/trash": trashView, "/stats": statsView, "/plan": planView, "/profile": profileView };

async function route() {
  const { pathname, search } = location;
  const params = new URLSearchParams(search);
  try {
    const link = pathname.match(/^\/s\/([^/]+)$/);
    if (link) {
      document.getElementById("nav").replaceChildren();
      return await publicView(decodeURIComponent(link[1]), params);
    }
    if (open[pathname]) {
      // Logged in or not, these pages work; the top bar shows which.
      session.me ??= await fetch("/api/v1/me").then((r) => (r.ok ? r.json() : null), () => null);
      nav();
      return await open[pathname](params);
    }
    if (!session.me) {
      try { session.me = await api("GET", "/me"); } catch { return; } // api() sent the browser to log in
    }
    nav();
    if (pages[pathname]) return await pages[pathname](params);
    const flow = pathname.match(/^\/index\.php\/login\/v2\/flow\/([^/]+)$/);
    if (flow) return await grantView(decodeURIComponent(flow[1]));
    if (pathname === "/" || pathname === "/files") return await filesView(session.me.root_id, params);
    const folder = pathname.match(/^\/files\/([0-9a-f-]{36})$/);
    if (folder) return await filesView(folder[1], params);
    const admin = pathname.match(/^\/admin(?:\/([a-z]+))?$/);
    if (admin && session.me.is_admin) return await adminView(admin[1] || "users", params);
    show(h("section", { class: "card" }, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/files" }, "Go to your files"))));
  } catch (err) {
    if (err.status === 401) return;
    // Items readable by anyone answer 404, not 401, once the session is gone: ask who we are.
    if (err.status === 404 && session.me && !(await api("GET", "/me").then(() => true, () => false))) return;
    show(h("section", { class: "card" }, h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, err.message),
      h("p", {}, h("a", { href: "/files" }, "Go to your files"))));
  }
}

route();
