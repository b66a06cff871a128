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
} from "./listview.js";
import { applyRole, badge, firstLine, jobHref, jobLink, say } from "./common.js";
import { rerunJob } from "./rerun.js";
import { followEvents } from "./follow.js";
import { attemptShort, waitingToRetry } from "./retry.js";
import { addScheduleTag, fillScheduleFilter, startsText, waitingToStart } from "./schedinfo.js";
import { budgetStop, costCell, setupCostColumn } from "./spend.js";
import { bulkRow, resetSelection, setupBulkTable } from "./bulk.js";

const PAGE = 50;
const ACTIVE = new Set(["queued", "running", "aborting"]);
const form = $("#filters");
const body = $("#jobs-table tbody");
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
  if (waitingToRetry(job)) return `${percent(job.progress)}% · retrying at ${localTime(job.retryAt)}`;
  if (waitingToStart(job)) return startsText(job);
  if (ACTIVE.has(job.status)) return `${percent(job.progress)}%`;
  if (job.status === "failed") return firstLine(job.lastError) || "Failed";
  if (budgetStop(job)) return `Budget stop: ${job.abortReason}`;
  if (job.status === "aborted") {
    return `Aborted${job.abortedBy ? ` by ${job.abortedBy}` : ""}${job.abortReason ? `: ${job.abortReason}` : ""}`;
  }
  return "Done";
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
    small.title = `Attempt ${attempt.replace("/", " of ")}`;
    const seen = document.createElement("span");
    seen.setAttribute("aria-hidden", "true");
    seen.textContent = attempt;
    const said = document.createElement("span");
    said.className = "visually-hidden";
    said.textContent = `attempt ${attempt.replace("/", " of ")}`;
    small.append(seen, said);
    status.append(" ", small);
  }
  cell(tr, undefined, "col-id").appendChild(jobLink(job.id));
  addScheduleTag(cell(tr, job.author || "–", "col-author"), job);
  cell(tr, undefined, "col-started").appendChild(timeElement(job.startTime));
  const ended = cell(tr, undefined, "col-ended");
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
    button.textContent = "Re-run";
    button.setAttribute("aria-label", `Re-run job ${job.id.slice(0, 8)}`);
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
    setText($("#jobs-caption"), `Jobs of every type, ${sorted}; times in ${ZONE}`);
    const what = [filters.q && `matching “${filters.q}”`, filters.type && `of type ${filters.type}`,
      filters.status && `with status ${filters.status}`,
      filters.schedule && `started by schedule ${filters.schedule}`,
      filters.signature && `failed with “${filters.signature}”`, rangeWords(view)].filter(Boolean).join(", ");
    const tail = `${next ? " (older ones below)" : ""}${capped ? ` (the ${LOAD_CAP} newest; narrow the range)` : ""}`;
    say(summary, shown ? `${shown} job${shown === 1 ? "" : "s"}${what ? ` ${what}` : ""}, ${sorted}${tail}. `
      + `Times in ${ZONE}.`
      : what ? `No jobs ${what}.` : "No jobs yet — start one from a card on the dashboard.", "ok");
  } catch (err) {
    say(summary, `Could not load jobs: ${err.message}`, "error");
  }
}

function showCustom() {
  const custom = form.elements.range.value === "custom";
  for (const el of form.querySelectorAll(".range-custom")) el.hidden = !custom;
  setText($("#range-help"), custom ? `Jobs that ran at any time between the two times (${ZONE}); leave one empty `
    + "for an open end." : "");
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
    for (const t of data) {
      types.set(t.jobType, t);
      titles.set(t.jobType, t.title || t.jobType);
      const option = document.createElement("option");
      option.value = t.jobType;
      option.textContent = t.title || t.jobType;
      form.elements.type.appendChild(option);
    }
  } catch (err) {
    setText($("#summary"), `Could not load job types: ${err.message}`);
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
