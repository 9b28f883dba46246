// The profile page: name, photo, email confirmation, password, app tokens.

import { api } from "/assets/api.js";
import { attempt, confirmed, field, form, h, toast, when } from "/assets/dom.js";
import { refreshMe, session, setTheme, show } from "/assets/app.js";

export async function profileView() {
  await refreshMe();
  const me = session.me;
  const photo = h("img", { class: "avatar big", alt: "Your photo", src: me.has_photo ? `/api/v1/me/photo?v=${Date.now()}` : null, hidden: !me.has_photo });
  const photoInput = h("input", { type: "file", name: "photo", accept: "image/png,image/jpeg,image/gif,image/webp", hidden: true, onchange: (e) => {
    const file = e.target.files[0];
    if (file) attempt(async () => { await api("PUT", "/me/photo", file); await profileView(); }, "Photo updated");
  } });
  const tokens = h("ul", { class: "list" });
  const loadTokens = async () => {
    const page = await api("GET", "/me/tokens");
    tokens.replaceChildren(...(page.items.length ? page.items.map((t) => h("li", { class: "row", "data-token": t.name },
      h("span", { class: "grow" }, t.name, h("br"), h("small", { class: "muted" }, `created ${when(t.created_at)}, last used ${when(t.last_used_at)}`)),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (await confirmed("Revoke this token?", `Clients using “${t.name}” will stop working.`, "Revoke")) {
          await attempt(async () => { await api("DELETE", `/me/tokens/${t.id}`); await loadTokens(); }, "Token revoked");
        }
      } }, "Revoke"))) : [h("li", { class: "muted" }, "No app tokens.")]));
  };
  const secret = h("div", { class: "secret", "aria-live": "polite" });
  await loadTokens();

  const current = localStorage.getItem("stratus-theme") || "";
  const theme = h("select", { name: "theme", onchange: (e) => setTheme(e.target.value) },
    [["", "As the system says"], ["light", "Light"], ["dark", "Dark"]].map(([value, label]) => h("option", { value, selected: value === current }, label)));
  show(h("h1", {}, "Profile"),
    h("section", { class: "card stack" }, h("h2", {}, "Appearance"), h("label", {}, "Colours", theme)),
    h("section", { class: "card stack" }, h("h2", {}, "You"),
      h("div", { class: "row" }, photo,
        h("button", { type: "button", onclick: () => photoInput.click() }, me.has_photo ? "Change photo" : "Add a photo"),
        me.has_photo ? h("button", { type: "button", onclick: () => attempt(async () => { await api("DELETE", "/me/photo"); await profileView(); }, "Photo removed") }, "Remove photo") : null,
        photoInput),
      h("p", {}, `${me.username} · ${me.email} `, me.email_verified ? h("span", { class: "badge" }, "confirmed")
        : h("button", { type: "button", onclick: () => attempt(() => api("POST", "/auth/verify-email/resend"), "We mailed you a new confirmation link.") }, "Confirm my address")),
      form([field("Display name", { name: "display_name", value: me.display_name || "", maxlength: 100 })], "Save", async (d) => {
        session.me = await api("PATCH", "/me", { display_name: d.display_name });
        toast("Saved");
      })),
    h("section", { class: "card stack" }, h("h2", {}, "Password"),
      form([
        field("Current password", { name: "current_password", type: "password", autocomplete: "current-password", required: true }),
        field("New password", { name: "new_password", type: "password", autocomplete: "new-password", minlength: 8, required: true }),
      ], "Change password", async (d, f) => {
        await api("POST", "/me/password", d);
        f.reset();
        toast("Password changed; your other sessions have ended.");
      })),
    h("section", { class: "card stack" }, h("h2", {}, "App tokens"),
      h("p", { class: "muted" }, "For WebDAV and the command-line client: use a token as the password, with your username."),
      tokens, secret,
      form([field("Name", { name: "name", required: true, placeholder: "e.g. laptop" })], "Create token", async (d, f) => {
        const created = await api("POST", "/me/tokens", { name: d.name });
        f.reset();
        secret.replaceChildren(h("p", {}, "Copy this token now; it will not be shown again:"), h("code", { class: "token" }, created.token));
        await loadTokens();
      })));
}

/** Login Flow v2: an app (Nextcloud's desktop or phone app) asks for access to the drive. */
export async function grantView(token) {
  let client;
  try {
    client = (await api("GET", `/login-flows/${encodeURIComponent(token)}`)).client;
  } catch (err) {
    if (err.status === 401) throw err;
    return show(h("section", { class: "card stack" }, h("h1", {}, "This sign-in link has expired"),
      h("p", {}, "Start the sign-in again from the app.")));
  }
  const done = (title, text) => show(h("section", { class: "card stack" }, h("h1", {}, title), h("p", {}, text)));
  show(h("section", { class: "card stack" }, h("h1", {}, "Connect an app"),
    h("p", {}, "An app asks for access to your drive, ", h("strong", {}, session.me.username), ":"),
    h("p", { class: "muted" }, client),
    h("p", {}, "It will get an app password of its own, which you can revoke on your profile page."),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: () => attempt(async () => {
        await api("POST", `/login-flows/${encodeURIComponent(token)}/grant`);
        done("Access granted", "You can close this window and go back to the app.");
      }) }, "Grant access"),
      h("button", { type: "button", onclick: () => done("Access not granted", "The app was not given access. You can close this window.") }, "Cancel"))));
}
