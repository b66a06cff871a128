/* The All jobs page: a table of jobs of every type, filtered and searched by the store, paged by its cursor.
The filters live in the address (?q=&type=&status=, and the time range and sort: listview.js) so that a view
can be bookmarked, shared and reloaded.

The table follows /events: a shown job's row moves with its progress and is redrawn when its status changes, a
removed job's row goes, and a new job is added at the top when it fits the type and status filters. With a search
text the store decides what matches, so new jobs wait for the next search; rows never move under the reader. */

import { api } from "./api.js";
import { $, setText } from "./dom.js";
import { ZONE, duration, localTime, ms, percent, refreshRelative, timeElement } from "./format.js";
import {
  LOAD_CAP, bounds, comparator, inRange, isPlain, nextSort, pastRange, rangeWords, showSort, sortWords, viewFromUrl,
  writeView,
} from "./listview.js"; // i18n-ignore: a module path
import { applyRole, badge, firstLine, jobHref, jobLink, say, statusText } from "./common.js";
import { t } from "./i18n.js";
import { rerunJob } from "./rerun.js";
import { followEvents } from "./follow.js";
import { attemptShort, waitingToRetry } from "./retry.js";
import { addScheduleTag, fillScheduleFilter, startsText, waitingToStart } from "./schedinfo.js";
import { budgetStop, costCell, setupCostColumn } from "./spend.js";
import { bulkRow, resetSelection, setupBulkTable } from "./bulk.js";

const PAGE = 50;
const ACTIVE = new Set(["queued", "running", "aborting"]);
const form = $("#filters");
const body = $("#jobs-table tbody"); // i18n-ignore: a selector
const more = $("#more");
const types = new Map();
let next = null;
let shown = 0;
let shownFilters = { q: "", type: "", status: "", schedule: "", signature: "" };  // what the rows on screen were loaded for
let view = viewFromUrl();                                // their time range and sort
const titles = new Map();                                // job type -> title, for sorting by type

function filtersFromUrl() {
  const url = new URL(window.location.href);
  return { q: url.searchParams.get("q") || "", type: url.searchParams.get("type") || "",
    status: url.searchParams.get("status") || "", schedule: url.searchParams.get("schedule") || "",
    signature: url.searchParams.get("signature") || "" };
}

function query(filters, before, limit = PAGE) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (filters.q) params.set("q", filters.q);
  if (filters.type) params.set("jobType", filters.type);
  if (filters.status) params.set("status", filters.status);
  if (filters.schedule) params.set("scheduleId", filters.schedule);
  if (filters.signature) params.set("signature", filters.signature);   // a failure group (the Failures page)
  if (before) params.set("before", before);
  return `/search?${params}`;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text !== undefined) td.textContent = text;
  row.appendChild(td);
  return td;
}

function detailOf(job) {
  // The countdown lives on the dashboard and the job's page; a row says when, and does not tick.
  if (waitingToRetry(job)) return t("jobs.detail.retrying", { percent: percent(job.progress), time: localTime(job.retryAt) });
  if (waitingToStart(job)) return startsText(job);
  if (ACTIVE.has(job.status)) return `${percent(job.progress)}%`;
  if (job.status === "failed") return firstLine(job.lastError) || statusText("failed");
  if (budgetStop(job)) return t("jobs.detail.budget_stop", { reason: job.abortReason });
  if (job.status === "aborted") {
    const key = job.abortedBy ? (job.abortReason ? "jobs.detail.aborted_by_reason" : "jobs.detail.aborted_by")
      : job.abortReason ? "jobs.detail.aborted_reason" : "jobs.detail.aborted";
    return t(key, { who: job.abortedBy, reason: job.abortReason });
  }
  return t("jobs.detail.done");
}

function rowOf(id) {
  return body.querySelector(`tr[data-job-id="${CSS.escape(id)}"]`);
}

function rowFor(job) {
  const tr = document.createElement("tr");
  tr.dataset.jobId = job.id;
  tr.dataset.status = job.status;
  const info = types.get(job.jobType);
  const type = cell(tr, info ? info.title : job.jobType, "col-type");
  type.title = job.jobType;
  const status = cell(tr, undefined, "col-status");
  badge(status.appendChild(document.createElement("span")), job.status);
  // Which run this is, where the type allows more than one: "2/5", read out as "attempt 2 of 5".
  const attempt = attemptShort(job);
  if (attempt) {
    const small = document.createElement("span");
    small.className = "attempt-short";
    const [run, max] = attempt.split("/");
    small.title = t("jobs.attempt_title", { attempt: run, max });
    const seen = document.createElement("span");
    seen.setAttribute("aria-hidden", "true");
    seen.textContent = attempt;
    const said = document.createElement("span");
    said.className = "visually-hidden";
    said.textContent = t("jobs.attempt_said", { attempt: run, max });
    small.append(seen, said);
    status.append(" ", small);
  }
  cell(tr, undefined, "col-id").appendChild(jobLink(job.id));
  // A stacked card (a narrow screen) names these three cells (triage.css shows data-label before each).
  const author = cell(tr, job.author || "–", "col-author");
  author.dataset.label = t("jobs.card.by");
  addScheduleTag(author, job);
  const started = cell(tr, undefined, "col-started");
  started.dataset.label = t("jobs.card.started");
  started.appendChild(timeElement(job.startTime));
  const ended = cell(tr, undefined, "col-ended");
  ended.dataset.label = t("jobs.card.ended");
  if (job.endTime) ended.appendChild(timeElement(job.endTime));
  else ended.textContent = "–";
  const end = job.endTime ? ms(job.endTime) : Date.now();
  cell(tr, duration((end - ms(job.startTime)) / 1000), "col-duration");
  costCell(tr, job);
  const what = cell(tr, detailOf(job), "col-detail");
  if (job.status === "failed") what.classList.add("is-error");
  const actions = cell(tr, undefined, "col-actions");
  if (!ACTIVE.has(job.status) && info) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-small btn-ghost rerun-btn";
    button.textContent = t("jobs.rerun");
    button.setAttribute("aria-label", t("jobs.rerun_label", { id: job.id.slice(0, 8) }));
    const note = document.createElement("span");
    note.className = "action-note";
    note.setAttribute("role", "status");
    note.hidden = true;
    // After a re-run the page goes to the new job: that is what the admin wants to watch next.
    button.addEventListener("click", async () => {
      const created = await rerunJob(job, info, note);
      if (created) window.location.assign(jobHref(created.id));
    });
    actions.append(button, note);
  }
  bulkRow(tr, job);
  return tr;
}

/** Every job in the view's range (up to LOAD_CAP), sorted as the view says: {jobs, capped}. */
async function loadRange(filters) {
  const b = bounds(view);
  let jobs = [];
  let before = null;
  let capped = false;
  for (;;) {
    const { data } = await api(query(filters, before, 200));
    jobs = jobs.concat(data.jobs);
    if (!data.next || pastRange(data.jobs, b)) break;
    if (jobs.length >= LOAD_CAP) {
      capped = true;
      break;
    }
    before = data.next;
  }
  jobs = jobs.filter((job) => inRange(job, b));
  jobs.sort(comparator(view, titles));
  return { jobs, capped };
}

async function load(filters, { append = false } = {}) {
  const summary = $("#summary");
  try {
    let jobs;
    let capped = false;
    if (isPlain(view)) {
      const { data } = await api(query(filters, append ? next : null));
      jobs = data.jobs;
      next = data.next;
    } else {
      ({ jobs, capped } = await loadRange(filters));
      next = null;
    }
    if (!append) {
      body.textContent = "";
      shown = 0;
      shownFilters = filters;
      resetSelection();
    }
    for (const job of jobs) body.appendChild(rowFor(job));
    shown += jobs.length;
    more.hidden = !next;
    showSort($("#jobs-table"), view);
    const sorted = sortWords(view);
    setText($("#jobs-caption"), t("jobs.caption_sorted", { sorted, zone: ZONE }));
    // The status in the viewer's words (lower-cased, English reads "with status failed").
    const what = [filters.q && t("jobs.what.q", { q: filters.q }), filters.type && t("jobs.what.type", { type: filters.type }),
      filters.status && t("jobs.what.status", { status: statusText(filters.status).toLowerCase() }),
      filters.schedule && t("jobs.what.schedule", { schedule: filters.schedule }),
      filters.signature && t("jobs.what.signature", { signature: filters.signature }), rangeWords(view)]
      .filter(Boolean).join(t("jobs.what.and"));
    const tail = `${next ? t("jobs.tail.more") : ""}${capped ? t("jobs.tail.capped", { cap: String(LOAD_CAP) }) : ""}`;
    const counted = t("jobs.count", { count: shown });
    say(summary, shown ? t(what ? "jobs.summary_what" : "jobs.summary", { jobs: counted, what, sorted, tail, zone: ZONE })
      : what ? t("jobs.none_what", { what }) : t("jobs.empty"), "ok");
  } catch (err) {
    say(summary, t("jobs.load_failed", { error: err.message }), "error");
  }
}

function showCustom() {
  const custom = form.elements.range.value === "custom";
  for (const el of form.querySelectorAll(".range-custom")) el.hidden = !custom;
  setText($("#range-help"), custom ? t("jobs.range_help", { zone: ZONE }) : "");
}

function applyToForm(filters) {
  form.elements.q.value = filters.q;
  form.elements.type.value = filters.type;
  form.elements.status.value = filters.status;
  form.elements.schedule.value = filters.schedule;
  form.elements.range.value = view.range;
  form.elements.from.value = view.from;
  form.elements.to.value = view.to;
  showCustom();
}

/** Write the filters and the view into the address (a new history entry) and load what they select. */
function go(filters) {
  const url = new URL(window.location.href);
  url.search = "";
  for (const [k, v] of Object.entries(filters)) if (v) url.searchParams.set(k, v);
  writeView(url, view);
  window.history.pushState(null, "", url);
  load(filters);
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const range = form.elements.range.value;
  view = { ...view, range, from: range === "custom" ? form.elements.from.value : "",
    to: range === "custom" ? form.elements.to.value : "" };
  go({ q: form.elements.q.value.trim(), type: form.elements.type.value, status: form.elements.status.value,
    schedule: form.elements.schedule.value, signature: "" });
});
form.elements.range.addEventListener("change", showCustom);

$("#clear").addEventListener("click", () => {
  view = viewFromUrl(new URL("jobs", document.baseURI).href);
  const filters = { q: "", type: "", status: "", schedule: "", signature: "" };
  applyToForm(filters);
  go(filters);
  form.elements.q.focus();
});

for (const th of document.querySelectorAll("#jobs-table th[data-sort]")) {
  $(".sort-btn", th).addEventListener("click", () => {
    view = nextSort(view, th.dataset.sort);
    go(shownFilters);
  });
}

more.addEventListener("click", () => load(filtersFromUrl(), { append: true }));
window.addEventListener("popstate", () => {
  const filters = filtersFromUrl();
  view = viewFromUrl();
  applyToForm(filters);
  load(filters);
});
// Relative times ("5 min ago") stay true while the page is open.
setInterval(() => {
  if (!document.hidden) refreshRelative(body);
}, 15000);

async function start() {
  try {
    const { data } = await api("/types");
    for (const info of data) {
      types.set(info.jobType, info);
      titles.set(info.jobType, info.title || info.jobType);
      const option = document.createElement("option");
      option.value = info.jobType;
      option.textContent = info.title || info.jobType;
      form.elements.type.appendChild(option);
    }
  } catch (err) {
    setText($("#summary"), t("jobs.types_failed", { error: err.message }));
  }
  const filters = filtersFromUrl();
  if (filters.type && !types.has(filters.type)) {
    const option = document.createElement("option");
    option.value = option.textContent = filters.type;
    form.elements.type.appendChild(option);
  }
  await fillScheduleFilter(form.elements.schedule, filters.schedule, api);
  applyToForm(filters);
  setupCostColumn($("#jobs-table"), $("#cost-total"), () => (isPlain(view) ? shownFilters : null), api);
  setupBulkTable($("#jobs-table"), () => shownFilters);
  await load(filters);
  let streamDown = false;
  followEvents({
    onEvent,
    onUp: () => {
      if (streamDown) load(shownFilters);   // catch up with what happened while the stream was down
      streamDown = false;
    },
    onDown: () => {
      streamDown = true;
    },
  });
  document.body.dataset.ready = "true";
}

async function statusChanged(job) {
  if (job.status === "failed") {
    // Status events carry the job without messages; the row shows the first line of the newest error.
    try {
      const { data } = await api(`/single/${encodeURIComponent(job.id)}/progress?messages=last:1`);
      const errors = data.errorMessages || [];
      if (errors.length) job.lastError = errors[errors.length - 1].message;
    } catch {
      /* the row says "Failed" without the line */
    }
  }
  const row = rowOf(job.id);
  if (row) row.replaceWith(rowFor(job));
}

function onEvent(type, payload) {
  if (type === "reset") {
    load(shownFilters);
    return;
  }
  const { jobId, data } = payload;
  const row = rowOf(jobId);
  if (type === "progress") {
    if (row && (row.dataset.status === "running" || row.dataset.status === "aborting")) {
      setText($(".col-detail", row), `${percent(data.progress)}%`);
    }
  } else if (type === "status") {
    if (row) statusChanged(data);
  } else if (type === "removed") {
    if (row) {
      row.remove();
      shown -= 1;
    }
  } else if (type === "created") {
    const f = shownFilters;
    // A new job goes on top where the order puts it there (newest first by start or end); with another sort the
    // rows stay put, and the next load places it.
    const onTop = (view.sort === "end" || view.sort === "start") && view.dir === "desc";
    if (!row && onTop && !f.q && !f.signature && (!f.type || data.jobType === f.type) && (!f.status || data.status === f.status)
        && (!f.schedule || data.scheduleId === f.schedule)) {
      body.prepend(rowFor(data));
      shown += 1;
    }
  }
}

applyRole(api);
start();
