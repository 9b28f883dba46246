// The pages beside the browser: shared with me, search, trash, statistics and the plan.

import { api } from "/assets/api.js";
import { attempt, confirmed, h, icon, size, svg, table, toast, when } from "/assets/dom.js";
import { previewNode } from "/assets/dialogs.js";
import { refreshMe, show } from "/assets/app.js";

function openable(n) {
  return n.kind === "folder"
    ? h("a", { href: `/files/${n.id}`, class: "name" }, [icon(n), " ", n.name])
    : h("button", { type: "button", class: "link name", onclick: () => previewNode(n) }, [icon(n), " ", n.name]);
}

export async function sharedView() {
  const page = await api("GET", "/shared-with-me");
  show(h("h1", {}, "Shared with me"), table(["Name", "Owner", "Your role", "Size"], page.items.map((s) =>
    h("tr", { "data-name": s.node.name }, h("td", {}, openable(s.node)), h("td", {}, s.owner_username), h("td", {}, s.role),
      h("td", { class: "num" }, s.node.kind === "file" ? size(s.node.size) : ""))), "Nothing is shared with you yet."));
}

/** Search results, a page at a time: the next page comes as the end of the list scrolls into
 * view (or by its button). */
export async function searchView(params) {
  const q = params.get("q") || "";
  const page = (after) => api("GET", `/search?q=${encodeURIComponent(q)}&limit=100${after ? `&cursor=${encodeURIComponent(after)}` : ""}`);
  let { items: hits, next_cursor: cursor } = q.trim() ? await page() : { items: [], next_cursor: null };
  const hit = (n) => h("tr", { "data-name": n.name }, h("td", {}, openable(n)), h("td", {}, h("a", { href: `/files/${n.parent_id}` }, n.folder_path)),
    h("td", { class: "num" }, n.kind === "file" ? size(n.size) : ""), h("td", { class: "when" }, when(n.modified_at)));
  const list = table(["Name", "Folder", "Size", "Modified"], hits.map(hit),
    q ? "Nothing in your drive has a name like this." : "Type in the search box above.");
  let found = hits.length;
  const count = h("p", { class: "muted count", "aria-live": "polite" });
  const more = h("button", { type: "button", onclick: () => next() }, "Show more results");
  const tell = () => {
    count.textContent = !q ? "" : cursor ? `The first ${found.toLocaleString()} results; more as you scroll` : `${found.toLocaleString()} result${found === 1 ? "" : "s"}`;
    more.hidden = !cursor;
  };
  let loading = null;
  const next = () => {
    loading ||= attempt(async () => {
      const got = await page(cursor);
      list.querySelector("tbody").append(...got.items.map(hit));
      found += got.items.length;
      cursor = got.next_cursor;
      tell();
      return true;
    }).then((ok) => {
      loading = null;
      // Still in view after a short page: look again. After a failure, the button retries.
      seen.unobserve(end);
      if (ok && cursor) seen.observe(end);
    });
    return loading;
  };
  const end = h("div", { class: "more" }, more);
  const seen = new IntersectionObserver((e) => {
    if (!document.contains(end)) return seen.disconnect();
    if (e.some((x) => x.isIntersecting) && cursor) next();
  });
  seen.observe(end);
  tell();
  show(h("div", { class: "head" }, h("h1", {}, q ? `Search: ${q}` : "Search"), count), list, end);
}

export async function trashView() {
  const page = await api("GET", "/trash");
  const reload = () => trashView();
  // Several at once: a box per item, and the selection restored or deleted together.
  const picked = new Map();
  const bulk = h("div", { class: "selection", hidden: true });
  const each = async (verb, done) => {
    let n = 0;
    for (const t of picked.values()) {
      const path = verb === "restore" ? `/trash/${t.id}/restore` : `/trash/${t.id}`;
      if (!(await attempt(() => api(verb === "restore" ? "POST" : "DELETE", path).then(() => true)))) break;
      n++;
    }
    await refreshMe();
    if (n) toast(done(n));
    reload();
  };
  const updateBulk = () => {
    bulk.hidden = !picked.size;
    bulk.replaceChildren(h("strong", {}, `${picked.size} selected`),
      h("button", { type: "button", onclick: () => each("restore", (n) => `${n} item${n > 1 ? "s" : ""} restored`) }, "Restore selected"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (await confirmed("Delete forever?", `${picked.size} item${picked.size > 1 ? "s" : ""} cannot be brought back afterwards.`, "Delete forever")) {
          await each("delete", (n) => `${n} item${n > 1 ? "s" : ""} deleted forever`);
        }
      } }, "Delete selected forever"));
  };
  const pick = (t) => {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${t.name}` });
    box.addEventListener("change", () => { if (box.checked) picked.set(t.id, t); else picked.delete(t.id); updateBulk(); });
    return box;
  };
  const all = h("input", { type: "checkbox", "aria-label": "Select all" });
  all.addEventListener("change", () => document.querySelectorAll("table.files tbody input[type=checkbox]").forEach((b) => {
    b.checked = all.checked;
    b.dispatchEvent(new Event("change"));
  }));
  const rows = page.items.map((t) => h("tr", { "data-name": t.name },
    h("td", { class: "pick" }, pick(t)),
    h("td", {}, [icon(t), " ", t.name]), h("td", {}, t.original_path), h("td", { class: "num" }, size(t.size)), h("td", { class: "when" }, when(t.trashed_at)),
    h("td", { class: "row" },
      h("button", { type: "button", onclick: () => attempt(async () => { await api("POST", `/trash/${t.id}/restore`); await refreshMe(); reload(); }, `“${t.name}” restored to ${t.original_path}`) }, "Restore"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (await confirmed("Delete forever?", `“${t.name}” cannot be brought back afterwards.`, "Delete forever")) {
          await attempt(async () => { await api("DELETE", `/trash/${t.id}`); await refreshMe(); reload(); }, `“${t.name}” deleted forever`);
        }
      } }, "Delete forever"))));
  const empty = h("button", { type: "button", class: "danger", disabled: !rows.length, onclick: async () => {
    if (await confirmed("Empty the trash?", "Everything in the trash is deleted forever.", "Empty trash")) {
      await attempt(async () => { await api("DELETE", "/trash"); await refreshMe(); reload(); }, "The trash is empty");
    }
  } }, "Empty trash");
  show(h("div", { class: "head" }, h("h1", {}, "Trash"), empty),
    h("p", { class: "muted" }, "Deleted items stay here for 30 days, then they are deleted for good."), bulk,
    table([all, "Name", "Was in", "Size", "Deleted", "Actions"], rows, "The trash is empty."));
}

const COLORS = { images: "#4f8cff", video: "#e0585b", audio: "#f0a030", documents: "#3bb273", archives: "#9b6ad6", other: "#8a8f98" };

export async function statsView() {
  const s = await api("GET", "/me/stats");
  const used = s.by_category.reduce((a, c) => a + c.bytes, 0) || 1;
  // Usage by type: one stacked bar with a legend.
  let x = 0;
  const stacked = svg("svg", { viewBox: "0 0 1000 40", class: "chart stacked", role: "img", "aria-label": "Usage by type" },
    s.by_category.filter((c) => c.bytes).map((c) => {
      const w = (1000 * c.bytes) / used;
      const rect = svg("rect", { x, y: 0, width: w, height: 40, fill: COLORS[c.category] || "#888" }, svg("title", {}, `${c.category}: ${size(c.bytes)}`));
      x += w;
      return rect;
    }));
  const legend = h("ul", { class: "legend" }, s.by_category.map((c) => h("li", {},
    h("span", { class: `swatch cat-${c.category}` }), `${c.category}: ${size(c.bytes)} in ${c.files} file${c.files === 1 ? "" : "s"}`)));
  // Stored bytes over the last 90 days: one bar a day.
  const top = Math.max(1, ...s.daily.map((d) => d.bytes));
  const slot = 1000 / Math.max(30, s.daily.length);
  const bars = svg("svg", { viewBox: "0 0 1000 200", class: "chart bars", role: "img", "aria-label": "Stored bytes over the last 90 days" },
    s.daily.map((d, i) => {
      const height = Math.max(d.bytes ? 2 : 0, (196 * d.bytes) / top);
      return svg("rect", { x: i * slot + slot * 0.15, y: 200 - height, width: slot * 0.7, height }, svg("title", {}, `${d.day}: ${size(d.bytes)} in ${d.files} files`));
    }));
  const first = s.daily[0]?.day || "";
  const last = s.daily[s.daily.length - 1]?.day || "";
  show(h("h1", {}, "Statistics"),
    h("section", { class: "card" }, h("h2", {}, "Usage by type"), stacked, legend),
    h("section", { class: "card" }, h("h2", {}, "Stored over time"), bars, h("p", { class: "muted row spread" }, h("span", {}, first), h("span", {}, `peak ${size(top)}`), h("span", {}, last))),
    h("section", { class: "card" }, h("h2", {}, "Totals"), h("dl", { class: "facts" },
      h("dt", {}, "Quota"), h("dd", {}, `${size(s.quota.used)} of ${size(s.quota.limit)}`),
      h("dt", {}, "Files and folders"), h("dd", {}, `${s.files} files, ${s.folders} folders`),
      h("dt", {}, "In the trash"), h("dd", {}, `${size(s.trash_bytes)} in ${s.trash_files} files`),
      h("dt", {}, "Older versions"), h("dd", {}, `${size(s.version_bytes)} in ${s.versions} versions`))));
}

export async function planView(params) {
  const reference = params.get("reference");
  if (reference) {
    // Back from Paystack: the server has verified the payment before sending the user here.
    const status = params.get("status");
    toast(status === "success" ? "Payment received: your plan is active." : `The payment is ${status || "not complete"}.`, status === "success" ? "info" : "error");
    history.replaceState(null, "", "/plan");
  }
  const [plans, billing] = await Promise.all([api("GET", "/plans"), api("GET", "/billing")]);
  await refreshMe();
  const price = (gb) => `${(gb * plans.price_per_gb_month / 100).toFixed(2)} ${plans.currency}`;
  const range = h("input", { type: "range", name: "gb", min: plans.min_gb, max: plans.max_gb, step: plans.step_gb, value: Math.max(plans.min_gb, billing.plan_gb), "aria-label": "Plan size in GB" });
  const number = h("input", { type: "number", min: plans.min_gb, max: plans.max_gb, step: plans.step_gb, value: range.value, "aria-label": "GB" });
  const cost = h("strong");
  const sync = (v) => { range.value = v; number.value = v; cost.textContent = `${price(Number(v))} a month`; };
  range.addEventListener("input", () => sync(range.value));
  number.addEventListener("input", () => sync(number.value));
  sync(range.value);
  const checkout = async (gb) => {
    const answer = await api("POST", "/billing/checkout", { gb });
    if (answer.authorization_url) location.assign(answer.authorization_url);
    else { toast(`Your plan is now ${answer.gb} GB`); await planView(new URLSearchParams()); }
  };
  const choose = h("button", { type: "button", class: "primary", disabled: !plans.payments_enabled, onclick: () => attempt(() => checkout(Number(number.value))) }, "Choose this plan");
  show(h("h1", {}, "Your plan"),
    h("section", { class: "card" }, h("p", {}, `You have the ${billing.plan_gb === plans.free_gb ? "free " : ""}${billing.plan_gb} GB plan and use ${size(billing.quota.used)} of ${size(billing.quota.limit)}.`),
      usageBar(billing.quota)),
    h("section", { class: "card stack" }, h("h2", {}, "More space"),
      // Without payments there is nothing to buy here: no prices, only who to ask.
      plans.payments_enabled
        ? [h("div", { class: "row" }, range, number, h("span", {}, "GB")), h("p", {}, cost),
          h("p", { class: "muted" }, "You pay on Paystack's page, then come back here.")]
        : h("p", { "data-payments": "off" }, "This server takes no payments: ask its administrator for more space."),
      h("div", { class: "row" }, plans.payments_enabled ? choose : null,
        billing.plan_gb !== plans.free_gb ? h("button", { type: "button", onclick: () => attempt(() => checkout(plans.free_gb)) }, `Go back to the free ${plans.free_gb} GB`) : null)),
    h("section", { class: "card" }, h("h2", {}, "Payments"), table(["Date", "Plan", "Amount", "Status"], billing.payments.map((p) =>
      h("tr", {}, h("td", {}, when(p.created_at)), h("td", {}, `${p.gb} GB`), h("td", {}, `${(p.amount / 100).toFixed(2)} ${p.currency}`), h("td", {}, p.status))), "No payments yet.")));
}

/** A bar showing `used` of `limit`. */
export function usageBar(quota) {
  const ratio = Math.min(1, quota.used / Math.max(1, quota.limit));
  return h("div", { class: "usage", title: `${size(quota.used)} of ${size(quota.limit)}` },
    h("progress", { max: 1000, value: Math.round(ratio * 1000), "aria-label": "Storage used" }),
    h("small", {}, `${size(quota.used)} of ${size(quota.limit)}`));
}
