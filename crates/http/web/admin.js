// The administration pages: users, storage volumes and their health, jobs, the audit log.

import { api } from "/assets/api.js";
import { ask, attempt, confirmed, field, form, h, size, table, when } from "/assets/dom.js";
import { go, show } from "/assets/app.js";

const SECTIONS = [["users", "Users"], ["volumes", "Storage"], ["jobs", "Jobs"], ["audit", "Audit log"]];

export async function adminView(section, params) {
  const tabs = h("nav", { class: "tabs", "aria-label": "Administration" }, SECTIONS.map(([id, label]) =>
    h("a", { href: `/admin/${id}`, "aria-current": id === section ? "page" : null }, label)));
  const views = { users, volumes, jobs, audit };
  const view = views[section] || users;
  show(h("h1", {}, "Administration"), tabs, await view(params));
}

async function users(params) {
  const q = params.get("q") || "";
  const offset = Number(params.get("offset") || 0);
  const page = await api("GET", `/admin/users?limit=50&offset=${offset}&q=${encodeURIComponent(q)}`);
  const reload = () => adminView("users", params);
  const search = form([field("Search users", { name: "q", value: q, type: "search" })], "Search", (d) => go(`/admin/users?q=${encodeURIComponent(d.q)}`));
  search.classList.add("inline");
  const patch = (u, body, done) => attempt(async () => { await api("PATCH", `/admin/users/${u.id}`, body); await reload(); }, done);
  const rows = page.items.map((u) => h("tr", { "data-name": u.username },
    h("td", {}, u.username, u.is_admin ? h("span", { class: "badge" }, "admin") : null, u.disabled ? h("span", { class: "badge bad" }, "disabled") : null,
      h("br"), h("small", { class: "muted" }, u.email)),
    h("td", { class: "num" }, `${size(u.quota.used)} / ${size(u.quota.limit)}`),
    h("td", {}, `${u.plan_gb} GB`),
    h("td", { class: "when" }, when(u.last_login_at)),
    h("td", { class: "row wrap" },
      h("button", { type: "button", onclick: () => patch(u, { disabled: !u.disabled }, `${u.username} ${u.disabled ? "enabled" : "disabled"}`) }, u.disabled ? "Enable" : "Disable"),
      h("button", { type: "button", onclick: async () => {
        const gb = await ask(`Plan of ${u.username}`, "GB (1, or 10 to 100)", String(u.plan_gb), "Set plan");
        if (gb) await patch(u, { plan_gb: Number(gb) }, `${u.username} has the ${gb} GB plan`);
      } }, "Plan"),
      h("button", { type: "button", onclick: () => patch(u, { is_admin: !u.is_admin }, `${u.username} ${u.is_admin ? "is no longer" : "is now"} an admin`) }, u.is_admin ? "Remove admin" : "Make admin"))));
  const pager = h("p", { class: "row" }, `${page.total} user${page.total === 1 ? "" : "s"}`,
    offset > 0 ? h("a", { class: "button", href: `/admin/users?q=${encodeURIComponent(q)}&offset=${Math.max(0, offset - 50)}` }, "Previous") : null,
    page.next_offset != null ? h("a", { class: "button", href: `/admin/users?q=${encodeURIComponent(q)}&offset=${page.next_offset}` }, "Next") : null);
  return h("div", { class: "stack" }, search, table(["User", "Used", "Plan", "Last login", "Actions"], rows, "No user matches."), pager);
}

async function volumes() {
  const [overview, stats] = await Promise.all([api("GET", "/admin/volumes"), api("GET", "/admin/stats")]);
  const reload = () => adminView("volumes", new URLSearchParams());
  const rows = overview.volumes.map((v) => h("tr", { "data-name": v.id },
    h("td", {}, v.id, h("br"), h("small", { class: "muted" }, v.location)),
    h("td", {}, v.pool),
    h("td", {}, h("span", { class: `badge ${v.health === "online" ? "" : "bad"}` }, v.health), v.problem ? h("small", { class: "error" }, ` ${v.problem}`) : null),
    h("td", {}, v.capacity_bytes ? `${size(v.capacity_bytes - (v.available_bytes || 0))} of ${size(v.capacity_bytes)}${v.nearly_full ? " (nearly full)" : ""}` : "—"),
    h("td", { class: "num" }, v.block_files != null ? `${v.block_files} blocks, ${size(v.block_bytes)}` : "—"),
    h("td", {}, h("select", { "aria-label": `State of ${v.id}`, onchange: (e) => attempt(async () => { await api("PATCH", `/admin/volumes/${v.id}`, { state: e.target.value }); await reload(); }, `${v.id} is now ${e.target.value}`) },
      ["active", "read_only", "draining"].map((s) => h("option", { value: s, selected: v.state === s }, s)))),
    h("td", {}, h("button", { type: "button", class: "danger", onclick: async () => {
      if (await confirmed(`Remove ${v.id}?`, "Only an empty (drained) or offline volume can be removed.", "Remove")) {
        await attempt(async () => { await api("DELETE", `/admin/volumes/${v.id}${v.health === "offline" ? "?force=true" : ""}`); await reload(); }, `${v.id} removed`);
      }
    } }, "Remove"))));
  const add = form([field("Location (a directory or s3:// URL)", { name: "location", required: true }), field("Pool", { name: "pool", value: "A", required: true })],
    "Add volume", async (d) => { await api("POST", "/admin/volumes", d); await reload(); });
  add.classList.add("inline");
  return h("div", { class: "stack" },
    overview.warnings.map((w) => h("p", { class: "error", role: "alert" }, w)),
    h("dl", { class: "facts" },
      h("dt", {}, "Users"), h("dd", {}, stats.users),
      h("dt", {}, "Stored"), h("dd", {}, `${size(stats.logical_bytes)} in files, ${size(stats.stored_bytes)} on disk (dedup ×${stats.dedup_ratio.toFixed(2)})`),
      h("dt", {}, "Replicas"), h("dd", {}, overview.replicas),
      h("dt", {}, "Read faults / repairs"), h("dd", {}, `${overview.read_faults} / ${overview.read_repairs}`)),
    table(["Volume", "Pool", "Health", "Disk", "Blocks", "State", ""], rows, "No volumes."), add);
}

async function jobs() {
  const view = await api("GET", "/admin/jobs");
  const reload = () => adminView("jobs", new URLSearchParams());
  const every = (s) => (s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`);
  return h("div", { class: "stack" },
    table(["Job", "Every", ""], view.jobs.map((j) => h("tr", { "data-name": j.name }, h("td", {}, j.name), h("td", {}, every(j.every_seconds)),
      h("td", {}, h("button", { type: "button", onclick: () => attempt(async () => { const run = await api("POST", `/admin/jobs/${j.name}/run`); await reload(); return run; }, `${j.name} ran`) }, "Run now")))), "No jobs."),
    h("h2", {}, "Recent runs"),
    table(["Job", "Started", "Outcome", "Items", "Detail"], view.runs.map((r) => h("tr", {}, h("td", {}, r.name), h("td", { class: "when" }, when(r.started_at)),
      h("td", {}, h("span", { class: `badge ${r.outcome === "failed" ? "bad" : ""}` }, r.outcome)), h("td", { class: "num" }, r.items), h("td", {}, r.detail || ""))), "No runs yet."));
}

async function audit(params) {
  const action = params.get("action") || "";
  const before = params.get("before") || "";
  const page = await api("GET", `/admin/audit?limit=100${action ? `&action=${encodeURIComponent(action)}` : ""}${before ? `&before=${encodeURIComponent(before)}` : ""}`);
  const filter = form([field("Action", { name: "action", value: action, placeholder: "e.g. login_failed" })], "Filter", (d) => go(`/admin/audit?action=${encodeURIComponent(d.action)}`));
  filter.classList.add("inline");
  return h("div", { class: "stack" }, filter,
    table(["When", "Who", "Action", "Target", "IP", "Result"], page.items.map((e) => h("tr", { "data-action": e.action },
      h("td", { class: "when" }, when(e.at)), h("td", {}, e.actor || "—"),
      h("td", {}, h("span", { title: e.action }, sentence(e.action))),
      h("td", {}, e.target_name ? h("span", { title: e.target }, e.target_name) : e.target || ""), h("td", {}, e.ip || ""),
      h("td", {}, h("span", { class: `badge ${e.success ? "" : "bad"}` }, e.success ? "ok" : "refused"), e.detail ? h("small", { class: "muted" }, ` ${readable(e.detail)}`) : null))), "Nothing recorded."),
    page.next_before ? h("a", { class: "button", href: `/admin/audit?action=${encodeURIComponent(action)}&before=${encodeURIComponent(page.next_before)}` }, "Older") : null);
}

/** `share_created` → "Share created". */
const sentence = (code) => code.charAt(0).toUpperCase() + code.slice(1).replaceAll("_", " ");

/** An entry's detail as words: a JSON detail as its settings ("password, max downloads 5"),
 * leaving out what is unset and the ids no one reads. */
function readable(detail) {
  let value;
  try { value = JSON.parse(detail); } catch { return detail; }
  if (!value || typeof value !== "object") return detail;
  const id = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  return Object.entries(value)
    .filter(([, v]) => v !== null && v !== false && !(typeof v === "string" && id.test(v)))
    .map(([k, v]) => (v === true ? k.replaceAll("_", " ") : `${k.replaceAll("_", " ")} ${typeof v === "string" && !Number.isNaN(Date.parse(v)) && /^\d{4}-/.test(v) ? new Date(v).toLocaleString() : v}`))
    .join(", ") || "—";
}
