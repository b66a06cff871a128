/* What every page shares: status words, links to a job's page, notices next to the control that caused them. */

import { setText } from "./dom.js";
import { shortId } from "./format.js";
import { t } from "./i18n.js";

export const STATUS_LABEL = {
  queued: t("status.queued"), running: t("status.running"), aborting: t("status.aborting"),
  completed: t("status.completed"), failed: t("status.failed"), aborted: t("status.aborted"),
};

export const statusText = (status) => STATUS_LABEL[status] || status;

export function badge(el, status) {
  el.className = `badge badge-${status}`;
  setText(el, statusText(status));
}

/** The job page's address, relative to the page's <base> (the server's root). */
export const jobHref = (id) => `jobs/${encodeURIComponent(id)}`;

/** A short id as a link to the job's page (the full id in its title and accessible name). */
export function jobLink(id, el = document.createElement("a")) {
  el.href = jobHref(id);
  el.classList.add("job-link");
  el.title = id;
  el.setAttribute("aria-label", t("common.job_link", { id: shortId(id) }));
  let code = el.querySelector("code");
  if (!code) {
    code = document.createElement("code");
    el.textContent = "";
    el.appendChild(code);
  }
  setText(code, shortId(id));
  return el;
}

/** Put a notice into `note` (a live region placed next to the control): read out by screen readers. */
export function say(note, text, kind = "ok") {
  note.hidden = !text;
  note.dataset.kind = kind;
  note.setAttribute("role", kind === "error" ? "alert" : "status");
  setText(note, text);
}

/** The first line of a message (an error's traceback stays on the job page). */
export const firstLine = (text) => String(text || "").split("\n", 1)[0];

/** Hide what the signed-in role cannot use (the server checks every write regardless). */
export async function applyRole(api) {
  try {
    const { data } = await api("/me");
    document.body.dataset.canStart = Array.isArray(data.canStart) && data.canStart.length ? "yes" : "no";
    document.body.dataset.canAbort = data.canAbort ? "yes" : "no";
  } catch {
    /* an older server without /me: show the controls; the server still refuses what is not allowed */
  }
}
