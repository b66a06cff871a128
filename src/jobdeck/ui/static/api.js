/* Same-origin JSON calls to the jobdeck API; a 401/403 anywhere hands over to the sign-in prompt. */

export const API = (document.querySelector('meta[name="jobdeck-api-prefix"]')?.content || "/api/admin/jobs")
  .replace(/\/+$/, "");

let authLostHandler = () => {};

/** Called once a request is refused for want of (valid) credentials. */
export function onAuthLost(handler) {
  authLostHandler = handler;
}

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method, body } = {}) {
  const init = { method: method || "GET", credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.method = method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch {
    throw new ApiError("The server cannot be reached.", 0);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  // A refusal by role (requiredRole) keeps the session: the message says which role would be allowed.
  if (res.status === 401 || (res.status === 403 && !(data && data.requiredRole))) {
    authLostHandler();
    throw new ApiError("Sign in required.", res.status);
  }
  if (!res.ok) throw new ApiError((data && data.error) || `The server answered ${res.status}.`, res.status);
  return { data, headers: res.headers };
}
