// Pages for people who are not logged in: log in (with OIDC when configured), sign up,
// forgotten password, reset, and the mailed email-confirmation link.

import { api } from "/assets/api.js";
import { field, form, h, toast } from "/assets/dom.js";
import { go, session, show } from "/assets/app.js";

function card(title, ...content) {
  return h("section", { class: "card auth" }, h("h1", {}, title), ...content);
}

/** Where to go after logging in: a same-site path only. */
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/files";
}

export async function loginView(params) {
  const next = safeNext(params.get("next"));
  const providers = await api("GET", "/auth/providers").catch(() => ({}));
  const oidc = providers.oidc
    ? h("p", {}, h("a", { class: "button wide", href: `/api/v1/auth/oidc/login?return_to=${encodeURIComponent(next)}` }, `Log in with ${providers.oidc}`))
    : null;
  show(card("Log in",
    form([
      field("Username or email", { name: "login", autocomplete: "username", required: true, autofocus: true }),
      field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
    ], "Log in", async (d) => {
      const answer = await api("POST", "/auth/login", d);
      session.me = answer.user;
      go(next);
    }),
    oidc,
    h("p", {}, h("a", { href: "/forgot" }, "Forgot your password?"), " · ", h("a", { href: "/signup" }, "Create an account"))));
}

export function signupView() {
  show(card("Create your account",
    form([
      field("Username", { name: "username", autocomplete: "username", required: true, autofocus: true }),
      field("Email", { name: "email", type: "email", autocomplete: "email", required: true }),
      field("Password (8 characters or more)", { name: "password", type: "password", autocomplete: "new-password", minlength: 8, required: true }),
    ], "Sign up", async (d) => {
      await api("POST", "/auth/register", d);
      const answer = await api("POST", "/auth/login", { login: d.username, password: d.password });
      session.me = answer.user;
      toast("Welcome! We mailed you a link to confirm your address.");
      go("/files");
    }),
    h("p", {}, "Already have an account? ", h("a", { href: "/login" }, "Log in"))));
}

export function forgotView() {
  show(card("Reset your password",
    form([field("Email", { name: "email", type: "email", autocomplete: "email", required: true, autofocus: true })],
      "Send me a link", async (d) => {
        await api("POST", "/auth/password-reset", d);
        show(card("Check your mail", h("p", {}, "If an account has this address, a link to reset its password is on its way. It works for one hour.")));
      })));
}

export function resetView(params) {
  show(card("Choose a new password",
    form([field("New password", { name: "password", type: "password", autocomplete: "new-password", minlength: 8, required: true, autofocus: true })],
      "Set password", async (d) => {
        await api("POST", "/auth/password-reset/confirm", { token: params.get("token") || "", password: d.password });
        toast("Your password is changed; every other session has ended.");
        go("/login");
      })));
}

export async function verifyView(params) {
  try {
    await api("POST", "/auth/verify-email", { token: params.get("token") || "" });
    show(card("Email confirmed", h("p", {}, h("a", { href: "/files" }, "Go to your files"))));
  } catch (err) {
    show(card("This link did not work", h("p", { class: "error" }, err.message)));
  }
}
