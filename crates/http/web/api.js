// The REST API from the browser: the session is the HttpOnly cookie; every change echoes the
// CSRF cookie in X-CSRF-Token. Errors are the API's problem documents, thrown as ApiError.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || (status ? `the request failed (${status})` : "the connection failed"));
    this.status = status;
    this.code = problem?.code || "error";
  }
}

function csrf() {
  const pair = document.cookie.split("; ").find((c) => c.startsWith("stratus_csrf="));
  return pair ? pair.slice("stratus_csrf=".length) : "";
}

/** Sends the browser to the login page, to come back here afterwards. */
export function toLogin() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/login?next=${next}`);
}

/**
 * Calls the API; `body` is sent as JSON unless it is a Blob/FormData. A 401 outside the
 * login and public-link calls means the session ended: the user logs in and comes back.
 */
export async function api(method, path, body, headers = {}) {
  headers = { accept: "application/json", ...headers };
  if (method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = csrf();
  let payload = body;
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof FormData)) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, { detail: "the server cannot be reached; check your connection" });
  }
  if (response.status === 401 && !path.startsWith("/auth/") && !path.startsWith("/public/")) {
    toLogin();
    throw new ApiError(401, { detail: "your session ended; please log in again" });
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    throw new ApiError(response.status, problem);
  }
  if (response.status === 204 || response.status === 202) return null;
  return response.json();
}

/**
 * `node` and the folders above it, from the drive's root (or from the highest one the caller
 * may read, for items shared with them).
 */
export async function trail(node) {
  const chain = [node];
  while (chain[0].parent_id) {
    const up = await api("GET", `/nodes/${chain[0].parent_id}`).catch(() => null);
    if (!up) break;
    chain.unshift(up);
  }
  return chain;
}

/**
 * Sends `body` with XMLHttpRequest, which reports upload progress. Resolves with the JSON
 * answer; `cancel()` aborts (rejecting with code `cancelled`).
 */
export function send(method, url, body, onProgress, headers = {}) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded, e.total);
    xhr.onload = () => {
      let answer = null;
      try { answer = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
      else reject(new ApiError(xhr.status, answer));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "the connection failed" }));
    xhr.onabort = () => reject(new ApiError(0, { code: "cancelled", detail: "cancelled" }));
  });
  xhr.open(method, url);
  xhr.setRequestHeader("x-csrf-token", csrf());
  for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
  xhr.send(body);
  return { done, cancel: () => xhr.abort() };
}
