/* The Schedules page: every schedule with its cadence, next run (a time and "in 4 h"), last run (its status,
linked to the job), paused state and missed runs; for admins Pause/Resume, Run now, Edit and Delete on each row
and a form to create one for any registered type. A schedule defined in code says so and offers only Pause/Resume
and Run now: its definition lives in the code, which would put it back at the next start.

The table is re-read from GET /schedules every REFRESH_MS (next runs move with the clock, and other processes
fire and pause schedules too) and at once when a job started by a schedule is created or ends (/events). The
relative times tick with the clock in between. Rows are redrawn in place, so that a button that had the focus
has it again after its own action. */

import { api } from "./api.js";
import { $, setText } from "./dom.js";
import { fullTime, localTime, shortId } from "./format.js";
import { badge, jobLink, say } from "./common.js";
import { followEvents } from "./follow.js";
import { buildParamInputs, readParams } from "./params.js";
import { cadence, nextRunText, relative, scheduleJobsHref } from "./schedinfo.js";
import { t } from "./i18n.js";

const REFRESH_MS = 15000;
const body = $("#schedules-table tbody"); // i18n-ignore: a selector
const form = $("#schedule-form");
const editor = $("#editor");
const note = $("#sched-note");
const types = new Map();
const notes = new Map();   // schedule id -> [text, kind]: what its last action said, kept across redraws
const paramView = { type: "schedule", params: $("#sched-params"), paramInputs: [], paramSig: null };
let schedules = [];
let canChange = true;
let editing = null;   // the schedule being edited, or null while the form creates one
let reloadTimer = 0;
let news = "";   // what the page last did to the list as a whole (a deletion), said with the count
let refocus = null;   // [schedule id, action] of a button whose action is under way (disabled, it lost the focus)

const path = (id, tail = "") => `/schedules/${encodeURIComponent(id)}${tail}`;
const typeTitle = (type) => (types.get(type) && types.get(type).title) || type;

/* ------------------------------------------------------------ the table */

function cell(row, cls, tag = "td") {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  row.appendChild(el);
  return el;
}

function span(text, cls) {
  const el = document.createElement("span");
  if (cls) el.className = cls;
  el.textContent = text;
  return el;
}

function button(text, action, label, cls = "btn btn-small btn-ghost") { // i18n-ignore: class names
  const el = document.createElement("button");
  el.type = "button";
  el.className = cls;
  el.textContent = text;
  el.dataset.action = action;
  el.setAttribute("aria-label", label);
  return el;
}

function lastRunCell(td, s) {
  const last = s.lastRun;
  if (!last || !last.jobId) {
    td.append(span(t("schedules.not_run_yet"), "sub"));
    return;
  }
  const status = span("", "");
  if (last.status) badge(status, last.status);
  td.append(status, " ", jobLink(last.jobId));
  const when = span(last.time ? `${localTime(last.time)} (${relative(last.time)})` : "",
    "sub sched-last-time"); // i18n-ignore: class names
  if (last.time) when.title = fullTime(last.time);
  const all = document.createElement("a");
  all.href = scheduleJobsHref(s.id);
  all.textContent = t("schedules.all_runs");
  all.setAttribute("aria-label", t("schedules.all_runs_label", { id: s.id }));
  when.append(when.textContent ? " · " : "", all);
  td.append(when);
}

/** The next run: its time, and below it how far away it is ("in 4 h"). */
function paintNext(td, s, now = Date.now()) {
  const first = !s.paused && s.nextRuns && s.nextRuns[0];
  setText($(".sched-next", td), first ? localTime(first) : nextRunText(s, now));
  setText($(".sched-next-rel", td), first ? relative(first, now) : "");
}

function rowFor(s) {
  const tr = document.createElement("tr");
  tr.id = `schedule-${s.id}`;
  tr.dataset.scheduleId = s.id;
  tr.dataset.paused = s.paused ? "true" : "false";
  tr.classList.toggle("is-paused", Boolean(s.paused));
  const head = cell(tr, "col-schedule", "th");
  head.scope = "row";
  head.append(span(s.id, "sched-id"), span(typeTitle(s.jobType), "sched-type"));
  head.lastChild.title = s.jobType;

  const runs = cell(tr, "col-runs");
  if (s.cron) {
    const code = document.createElement("code");
    code.textContent = s.cron;
    runs.append(`${t("schedules.cron_word")} `, code);
  } else runs.append(cadence(s));
  if (s.timezone) runs.append(span(s.timezone, "sub"));
  if (s.overlap === "queue") runs.append(span(t("schedules.queues_while_running"), "sub"));

  const next = cell(tr, "col-next");
  next.append(span("", "sched-next"), span("", "sub sched-next-rel")); // i18n-ignore: class names
  paintNext(next, s);
  if (!s.paused && s.nextRuns && s.nextRuns[0]) {
    next.title = t("schedules.next_runs", { times: s.nextRuns.map(fullTime).join(", ") });
  }

  lastRunCell(cell(tr, "col-last"), s);

  const state = cell(tr, "col-state");
  if (s.disabled) {
    const tag = span(t("schedules.removed"), "tag tag-paused"); // i18n-ignore: class names
    tag.title = t("schedules.removed_title");
    state.append(tag);
  } else {
    state.append(span(s.paused ? t("schedules.paused") : t("schedules.active"),
      `tag ${s.paused ? "tag-paused" : "tag-active"}`)); // i18n-ignore: class names
  }
  if (s.source === "code") {
    const tag = span(t("schedules.from_code"), "tag tag-code"); // i18n-ignore: class names
    tag.title = t("schedules.from_code_title");
    state.append(" ", tag);
  }
  if (s.missed) state.append(span(t("schedules.missed", { count: s.missed }), "sub missed")); // i18n-ignore
  if (s.coalesced) {   // missed within the grace: covered by one later start, not run once each
    const merged = span(t("schedules.caught_up", { count: s.coalesced }), "sub");
    merged.title = t("schedules.caught_up_title");
    state.append(merged);
  }
  if (s.skipped) {
    const last = s.lastSkip;
    const skipped = t("schedules.skipped", { count: s.skipped });
    const skip = span(last && last.reason ? t("schedules.skipped_reason", { skipped, reason: last.reason }) : skipped,
      "sub missed"); // i18n-ignore: class names
    if (last && last.time) skip.title = t("schedules.last_skipped", { time: fullTime(last.time) });
    state.append(skip);
  }

  const actions = cell(tr, "col-actions").appendChild(document.createElement("div"));
  actions.className = "sched-actions";
  if (canChange) {
    actions.append(
      button(s.paused ? t("schedules.resume") : t("schedules.pause"), "toggle",
        s.paused ? t("schedules.resume_label", { id: s.id }) : t("schedules.pause_label", { id: s.id })),
      button(t("schedules.run_now"), "trigger", t("schedules.run_now_label", { id: s.id })),
    );
    if (s.source !== "code") {
      actions.append(button(t("schedules.edit"), "edit", t("schedules.edit_label", { id: s.id })),
        button(t("schedules.delete"), "delete", t("schedules.delete_label", { id: s.id }),
          "btn btn-small btn-danger-outline")); // i18n-ignore: class names
    }
  }
  const said = document.createElement("p");
  said.className = "action-note";
  said.hidden = true;
  actions.append(said);
  const kept = notes.get(s.id);
  if (kept) say(said, kept[0], kept[1]);
  return tr;
}

function render() {
  // Keep the focus on the control that had it: rows are rebuilt, the action names stay.
  const active = document.activeElement;
  const focusRow = active && active.closest ? active.closest("tr[data-schedule-id]") : null;
  const focus = refocus || (focusRow ? [focusRow.dataset.scheduleId, active.dataset.action] : null);
  body.textContent = "";
  for (const s of schedules) body.appendChild(rowFor(s));
  if (!schedules.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, "empty");
    td.colSpan = 6;
    td.textContent = canChange ? t("schedules.empty_admin") : t("schedules.empty");
    body.appendChild(tr);
  }
  if (focus) {
    const row = body.querySelector(`tr[data-schedule-id="${CSS.escape(focus[0])}"]`);
    const target = row && (focus[1] ? row.querySelector(`[data-action="${focus[1]}"]`) : null);
    if (target) target.focus();
    else if (focusRow && !focusRow.isConnected) $("#main").focus();
  }
}

function sortKey(s) {
  const next = !s.paused && s.nextRuns && s.nextRuns[0] ? Date.parse(s.nextRuns[0]) : Infinity;
  return Number.isNaN(next) ? Infinity : next;
}

async function load() {
  try {
    const { data } = await api("/schedules");
    const list = Array.isArray(data) ? data : (data && data.schedules) || [];
    schedules = list.slice().sort((a, b) => sortKey(a) - sortKey(b) || String(a.id).localeCompare(b.id));
    render();
    const paused = schedules.filter((s) => s.paused).length;
    const n = schedules.length;
    const count = !n ? t("schedules.none") : paused ? t("schedules.count_paused", { count: n, paused })
      : t("schedules.count", { count: n });
    say($("#summary"), news ? `${news} ${count}` : count, "ok");
  } catch (err) {
    if (err.status !== 401) say($("#summary"), t("schedules.load_failed", { error: err.message }), "error");
  }
}

/** Re-read soon (several events in a burst cost one request). */
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(load, 300);
}

/** The relative times move with the clock between two reads. */
function tick() {
  for (const s of schedules) {
    const row = body.querySelector(`tr[data-schedule-id="${CSS.escape(s.id)}"]`);
    if (!row) continue;
    paintNext($(".col-next", row), s);
    const last = $(".sched-last-time", row);
    if (last && s.lastRun && s.lastRun.time && last.firstChild && last.firstChild.nodeType === Node.TEXT_NODE) {
      last.firstChild.textContent = `${localTime(s.lastRun.time)} (${relative(s.lastRun.time)})`;
    }
  }
}

/* ------------------------------------------------------------ row actions */

function remember(id, text, kind = "ok") {
  notes.set(id, [text, kind]);
  const row = body.querySelector(`tr[data-schedule-id="${CSS.escape(id)}"]`);
  const said = row && $(".action-note", row);
  if (said) say(said, text, kind);
}

function confirmDelete(s) {
  const dlg = $("#confirm");
  const opener = document.activeElement;
  setText($("#confirm-body"),
    t("schedules.delete_body", { id: s.id, type: typeTitle(s.jobType), cadence: cadence(s) }));
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      const confirmed = dlg.returnValue === "confirm";
      if (!confirmed && opener && opener.isConnected) opener.focus();
      resolve(confirmed);
    }, { once: true });
    dlg.showModal();
    $("#confirm-cancel").focus();   // the safe choice has focus; Escape also cancels
  });
}

async function act(s, action, control) {
  if (action === "edit") {
    startEditing(s);
    return;
  }
  if (action === "delete" && !(await confirmDelete(s))) return;
  refocus = control === document.activeElement ? [s.id, action] : null;
  news = "";
  control.disabled = true;
  try {
    if (action === "toggle") {
      await api(path(s.id), { method: "PATCH", body: { paused: !s.paused } });
      remember(s.id, s.paused ? t("schedules.resumed") : t("schedules.paused_note"));
    } else if (action === "trigger") {
      const { data } = await api(path(s.id, "/trigger"), { method: "POST", body: {} });
      const job = data && (data.jobId || data.id);
      remember(s.id, job ? t("schedules.started_job", { id: shortId(job) }) : t("schedules.started"));
    } else if (action === "delete") {
      await api(path(s.id), { method: "DELETE" });
      notes.delete(s.id);
      news = t("schedules.deleted", { id: s.id });
      if (editing && editing.id === s.id) stopEditing();
      $("#main").focus();
    }
  } catch (err) {
    if (err.status !== 401) remember(s.id, t("schedules.refused", { error: err.message }), "error");
  } finally {
    control.disabled = false;
  }
  await load();
  refocus = null;
}

body.addEventListener("click", (e) => {
  const control = e.target.closest("button[data-action]");
  if (!control) return;
  const id = control.closest("tr").dataset.scheduleId;
  const s = schedules.find((x) => x.id === id);
  if (s) act(s, control.dataset.action, control);
});

/* ------------------------------------------------------------ the form */

function kind() {
  return form.elements.kind.value;
}

function showKind() {
  const cron = kind() === "cron";
  $("#cron-field").hidden = !cron;
  $("#every-field").hidden = cron;
}

function showParams(defaults) {
  const info = types.get(form.elements.jobType.value);
  paramView.paramSig = null;
  buildParamInputs(paramView, defaults || (info && info.params) || {}, info ? info.paramsSchema || null : null,
    "sched-param");
}

/** ``every`` in seconds as the largest whole unit the form offers. */
function everyInUnits(seconds) {
  for (const unit of [86400, 3600, 60, 1]) {
    if (seconds >= unit && seconds % unit === 0) return [seconds / unit, unit];
  }
  return [seconds, 1];
}

function startEditing(s) {
  editing = s;
  setText($("#editor-title"), t("schedules.edit_label", { id: s.id }));
  setText($("#sched-save"), t("schedules.save"));
  $("#sched-cancel").hidden = false;
  form.elements.id.value = s.id;
  form.elements.id.readOnly = true;
  form.elements.jobType.value = s.jobType;
  form.elements.jobType.disabled = true;   // a schedule keeps its type; a new type is a new schedule
  form.elements.kind.value = s.cron ? "cron" : "every";
  form.elements.cron.value = s.cron || "";
  if (!s.cron && s.every) {
    const [n, unit] = everyInUnits(Number(s.every));
    form.elements.every.value = String(n);
    form.elements.everyUnit.value = String(unit);
  }
  form.elements.timezone.value = s.timezone || "";
  if (s.overlap) form.elements.overlap.value = s.overlap;
  form.elements.overlap.disabled = true;   // fixed when the schedule was made
  showKind();
  const info = types.get(s.jobType);
  showParams({ ...((info && info.params) || {}), ...(s.params || {}) });
  say(note, "");
  editor.scrollIntoView({ block: "start" });
  form.elements[s.cron ? "cron" : "every"].focus();
}

function stopEditing() {
  const was = editing;
  editing = null;
  form.reset();
  form.elements.id.readOnly = false;
  form.elements.jobType.disabled = false;
  form.elements.overlap.disabled = false;
  form.elements.timezone.value = defaultZone();
  setText($("#editor-title"), t("schedules.new"));
  setText($("#sched-save"), t("schedules.create"));
  $("#sched-cancel").hidden = true;
  showKind();
  showParams();
  return was;
}

function defaultZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** The form as the API's body; throws an Error naming the field that is not right. */
function readForm() {
  const out = {};
  if (kind() === "cron") {
    const cron = form.elements.cron.value.trim();
    if (!cron) {
      form.elements.cron.focus();
      throw new Error(t("schedules.need_cron"));
    }
    out.cron = cron;
  } else {
    const n = Number(form.elements.every.value);
    if (!Number.isFinite(n) || n <= 0) {
      form.elements.every.focus();
      throw new Error(t("schedules.need_every"));
    }
    out.every = Math.round(n * Number(form.elements.everyUnit.value));
  }
  const zone = form.elements.timezone.value.trim();
  if (zone) out.timezone = zone;
  out.params = readParams(paramView);
  out.overlap = form.elements.overlap.value;
  return out;
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  let fields;
  try {
    fields = readForm();
    if (!editing) {
      const id = form.elements.id.value.trim();
      if (!id) {
        form.elements.id.focus();
        throw new Error(t("schedules.need_name"));
      }
      if (!form.elements.jobType.value) throw new Error(t("schedules.need_type"));
      fields = { id, jobType: form.elements.jobType.value, ...fields };
    }
  } catch (err) {
    say(note, err.message, "error");
    return;
  }
  const save = $("#sched-save");
  save.disabled = true;
  try {
    if (editing) {
      // A change of kind clears the other one, so that the schedule has exactly one cadence.
      // The cadence given replaces the other kind; overlap is fixed when a schedule is made.
      const patch = { ...fields };
      delete patch.overlap;
      await api(path(editing.id), { method: "PATCH", body: patch });
      const id = stopEditing().id;
      remember(id, t("schedules.saved"));
      say(note, t("schedules.saved_note", { id }), "ok");
    } else {
      const { data } = await api("/schedules", { body: fields });
      const id = (data && data.id) || fields.id;
      stopEditing();
      const first = data && data.nextRuns && data.nextRuns[0];
      say(note, first ? t("schedules.created_first", { id, time: localTime(first), relative: relative(first) })
        : t("schedules.created", { id }), "ok");
    }
  } catch (err) {
    if (err.status !== 401) say(note, t("schedules.not_saved", { error: err.message }), "error");
  } finally {
    save.disabled = false;
  }
  await load();
});

form.elements.kind.forEach((radio) => radio.addEventListener("change", showKind));
form.elements.jobType.addEventListener("change", () => showParams());
$("#sched-cancel").addEventListener("click", () => {
  const was = stopEditing();
  say(note, "");
  const row = was && body.querySelector(`tr[data-schedule-id="${CSS.escape(was.id)}"]`);
  const back = row && row.querySelector('[data-action="edit"]');
  (back || $("#main")).focus();
});

/* ------------------------------------------------------------ start */

async function applyRole() {
  try {
    const { data } = await api("/me");
    canChange = typeof data.canSchedule === "boolean" ? data.canSchedule : data.role === "admin";
    if (!canChange) {
      const roleNote = $("#role-note");
      roleNote.hidden = false;
      setText(roleNote, t("schedules.read_only", { name: data.name, role: data.role }));
    }
  } catch {
    /* an older server without /me: offer the controls; the server still refuses what is not allowed */
  }
  document.body.dataset.canSchedule = canChange ? "yes" : "no";
}

async function start() {
  await applyRole();
  try {
    const { data } = await api("/types");
    for (const type of data) {
      types.set(type.jobType, type);
      const option = document.createElement("option");
      option.value = type.jobType;
      option.textContent = type.title && type.title !== type.jobType ? `${type.title} (${type.jobType})` : type.jobType;
      form.elements.jobType.appendChild(option);
    }
  } catch (err) {
    say(note, t("schedules.types_failed", { error: err.message }), "error");
  }
  try {
    const zones = $("#time-zones");
    for (const zone of Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []) {
      const option = document.createElement("option");
      option.value = zone;
      zones.appendChild(option);
    }
  } catch {
    /* no list of zones: the field still takes any name, and the server checks it */
  }
  form.elements.timezone.value = defaultZone();
  showKind();
  showParams();
  editor.hidden = !canChange;
  await load();
  // A hash names a schedule's row (links from the dashboard's cards): bring it into view.
  const target = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
  if (target) target.scrollIntoView({ block: "center" });
  followEvents({
    onEvent: (type, payload) => {
      if (type === "reset") reloadSoon();
      else if ((type === "created" || type === "status") && payload && payload.data && payload.data.scheduleId) {
        reloadSoon();
      }
    },
    onUp: reloadSoon,
  });
  setInterval(() => {
    if (!document.hidden) load();
  }, REFRESH_MS);
  setInterval(() => {
    if (!document.hidden) tick();
  }, 1000);
  document.body.dataset.ready = "true";
}

start();
