/* jobdeck dashboard: live job monitoring without a build step.

Modules: state.js (job map, message logs, idempotent upserts), stream.js (EventSource and polling),
views.js / panels.js / params.js (DOM, patched once per animation frame), api.js, format.js, dom.js.
This one wires them together and holds what the admin does: start, abort, clean up, sign in again.
*/

import { API, api, onAuthLost } from "./api.js";
import { showCardSchedules } from "./cardschedule.js";
import { say, statusText } from "./common.js";
import { followCardDiagnoses } from "./diagnosis.js";
import { $, setText, showError } from "./dom.js";
import { shortId } from "./format.js";
import { t } from "./i18n.js";
import { readParams } from "./params.js";
import { waitingToRetry } from "./retry.js";
import { dirty, isActive, loadAll, onRender, schedule, state, touchType, upsertJob } from "./state.js";
import { connect, setConnection, stopLive } from "./stream.js";
import { PAST_PAGE, flush, handlers, typeInfo, typeViews } from "./views.js";

/* ------------------------------------------------------------ sign in again */

function authLost() {
  if (state.authLost) return;
  state.authLost = true;
  stopLive();
  setConnection("offline", t("dash.signed_out"));
  const dlg = $("#login");
  if (!dlg.open) dlg.showModal();
  $("#login-token").focus();
}

// The login form must not be dismissed into a page that cannot load anything.
$("#login").addEventListener("cancel", (e) => e.preventDefault());

// Signing in again resumes this page (stream, state) instead of reloading it; without JavaScript the form
// would post and land on the dashboard anyway.
$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  const error = $("#login-error");
  const button = $("button[type=submit]", form);
  button.disabled = true;
  error.hidden = true;
  try {
    await fetch(form.action, {
      method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
    });
    const probe = await fetch(`${API}/stats`, { credentials: "same-origin", cache: "no-store" });
    if (probe.ok) {
      form.reset();
      $("#login").close();
      state.authLost = false;
      setConnection("connecting", t("live.connecting"));
      connect();
      await loadAll();
      return;
    }
    error.textContent = t("login.rejected");
  } catch {
    error.textContent = t("login.unreachable");
  } finally {
    button.disabled = false;
  }
  if (!state.authLost) return;
  error.hidden = false;
  $("#login-token").select();
});

/* ------------------------------------------------------------ confirmation */

function confirmAction({ title, body, ok, reason = true }) {
  const dlg = $("#confirm");
  const opener = document.activeElement;
  setText($("#confirm-title"), title);
  setText($("#confirm-body"), body);
  setText($("#confirm-ok"), ok);
  $("#confirm-reason-field").hidden = !reason;
  $("#confirm-reason").value = "";
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      const confirmed = dlg.returnValue === "confirm";
      if (opener && opener.isConnected && !opener.disabled) opener.focus();
      else $("#main").focus();
      resolve({ confirmed, reason: $("#confirm-reason").value.trim() });
    }, { once: true });
    dlg.showModal();
    $("#confirm-cancel").focus();   // the safe choice has focus; Escape also cancels
  });
}

/* ------------------------------------------------------------ actions */

async function startJob(view) {
  let params;
  try {
    params = readParams(view);
  } catch (err) {
    say(view.note, err.message, "error");
    return;
  }
  view.busy = true;
  touchType(view.type);
  try {
    const body = { jobType: view.type };
    if (view.paramInputs.length) body.params = params;
    const { data } = await api("/start", { body });
    upsertJob(data, { fromEvent: !state.jobs.has(data.id) });
    say(view.note, t("card.started_job", { id: shortId(data.id) }), "ok");
  } catch (err) {
    if (err.status !== 401 && err.status !== 403) {
      say(view.note, t("card.not_started", { error: err.message }), "error");
    }
  } finally {
    view.busy = false;
    touchType(view.type);
  }
}


async function abortJob(id, note) {
  const job = state.jobs.get(id);
  if (!job || !isActive(job)) return;
  const title = typeInfo(job.jobType).title || job.jobType;
  const queued = job.status === "queued";
  const waiting = waitingToRetry(job);
  const named = { id: shortId(id), title };
  const { confirmed, reason } = await confirmAction({
    title: t("dash.abort_title"),
    body: t(waiting ? "dash.abort_body_retry" : queued ? "dash.abort_body_queued" : "dash.abort_body_running", named),
    ok: t("dash.abort_ok"),
  });
  if (!confirmed) return;
  try {
    const { data } = await api(`/single/${encodeURIComponent(id)}/abort`, { body: reason ? { reason } : {} });
    const ended = data && data.status && data.status !== "aborting";
    const atOnce = queued && data && data.status === "aborted";
    const short = shortId(id);
    say(note, atOnce && waiting ? t("dash.aborted_no_retry", { id: short })
      : atOnce ? t("dash.aborted_before_start", { id: short })
      : ended ? t("dash.already_ended", { id: short, status: statusText(data.status).toLowerCase() })
      : t("dash.abort_requested", { id: short }));
  } catch (err) {
    if (err.status !== 401 && err.status !== 403) say(note, t("dash.abort_refused", { error: err.message }), "error");
  }
}

async function abortAll() {
  const jobs = [...state.jobs.values()];
  const queued = jobs.filter((j) => j.status === "queued").length;
  const n = jobs.filter((j) => j.status === "running").length + queued;
  const { confirmed, reason } = await confirmAction({
    title: t("dash.abort_all"),
    body: n ? t(queued ? "dash.cleanup_queued" : "dash.cleanup_running", { count: n }) : t("dash.cleanup_none"),
    ok: t("dash.cleanup_ok"),
  });
  if (!confirmed) return;
  try {
    const { data } = await api("/abort-all", { body: reason ? { reason } : {} });
    const count = data && typeof data.abortRequestedFor === "number" ? data.abortRequestedFor : 0;
    say($("#abort-all-note"), t("dash.cleanup_done", { count }));
  } catch (err) {
    if (err.status !== 401 && err.status !== 403) {
      say($("#abort-all-note"), t("dash.cleanup_refused", { error: err.message }), "error");
    }
  }
}

$("#abort-all").addEventListener("click", abortAll);

$("#past-filter").addEventListener("change", (e) => {
  if (e.target.name !== "past-status") return;
  state.filter = e.target.value;
  for (const view of typeViews.values()) view.pastLimit = PAST_PAGE;
  dirty.allPast = true;
  schedule();
});

/* ------------------------------------------------------------ role */

// The server checks every write; this only hides what the signed-in role cannot use, and says why.
async function applyRole() {
  const { data } = await api("/me");
  const canStart = Array.isArray(data.canStart) && data.canStart.length > 0;
  document.body.dataset.canStart = canStart ? "yes" : "no";
  document.body.dataset.canAbort = data.canAbort ? "yes" : "no";
  const key = !canStart && !data.canAbort ? "dash.role_both" : !canStart ? "dash.role_start"
    : !data.canAbort ? "dash.role_abort" : null;
  const note = $("#role-note");
  note.hidden = key === null;
  if (key) setText(note, t(key, { name: data.name, role: data.role }));
}

/* ------------------------------------------------------------ start */

onAuthLost(authLost);
onRender(flush);
handlers.start = startJob;
handlers.abort = abortJob;
connect();
followCardDiagnoses();
applyRole().catch(() => {});
showCardSchedules($("#types"));
loadAll().catch((err) => {
  if (state.authLost) return;
  showError(err);
  setText($("#types-loading") || document.createElement("p"), t("dash.load_failed"));
  // Keep trying: the stream's reconnect loop or this retry brings the page up once the server answers.
  const retry = setInterval(() => {
    if (state.loaded || state.authLost) {
      clearInterval(retry);
      return;
    }
    loadAll().then(() => clearInterval(retry), () => {});
  }, 3000);
});
