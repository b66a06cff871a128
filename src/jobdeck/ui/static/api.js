/* Same-origin JSON calls to the jobdeck API; a 401/403 anywhere hands over to the sign-in prompt. */

import { t } from "./i18n.js";

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
    throw new ApiError(t("api.unreachable"), 0);
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
    throw new ApiError(t("api.sign_in"), res.status);
  }
  // The server's own words (its error detail) stay as it wrote them.
  if (!res.ok) throw new ApiError((data && data.error) || t("api.status", { status: String(res.status) }), res.status);
  return { data, headers: res.headers };
}
