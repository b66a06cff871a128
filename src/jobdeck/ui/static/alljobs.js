/* The All jobs page: a table of jobs of every type, filtered and searched by the store, paged by its cursor.
The filters live in the address (?q=&type=&status=) so that a view can be bookmarked and shared.

The table follows /events: a shown job's row moves with its progress and is redrawn when its status changes, a
removed job's row goes, and a new job is added at the top when it fits the type and status filters. With a search
text the store decides what matches, so new jobs wait for the next search; rows never move under the reader. */

import { api } from "./api.js";
import { $, setText } from "./dom.js";
import { duration, fullTime, localTime, ms, percent } from "./format.js";
import { applyRole, badge, firstLine, jobLink, say } from "./common.js";
import { rerunJob } from "./rerun.js";
import { followEvents } from "./follow.js";
import { attemptShort, waitingToRetry } from "./retry.js";
import { bulkRow, resetSelection, setupBulkTable } from "./bulk.js";

const PAGE = 50;
const ACTIVE = new Set(["queued", "running", "aborting"]);
const form = $("#filters");
const body = $("#jobs-table tbody");
const more = $("#more");
const types = new Map();
let next = null;
let shown = 0;
let shownFilters = { q: "", type: "", status: "" };   // what the rows on screen were loaded for

function filtersFromUrl() {
  const url = new URL(window.location.href);
  return { q: url.searchParams.get("q") || "", type: url.searchParams.get("type") || "",
    status: url.searchParams.get("status") || "", signature: url.searchParams.get("signature") || "" };
}

function query(filters, before) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (filters.q) params.set("q", filters.q);
  if (filters.type) params.set("jobType", filters.type);
  if (filters.status) params.set("status", filters.status);
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
  if (ACTIVE.has(job.status)) return `${percent(job.progress)}%`;
  if (job.status === "failed") return firstLine(job.lastError) || "Failed";
  if (job.status === "aborted") return job.abortReason ? `Aborted: ${job.abortReason}` : "Aborted";
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
  cell(tr, job.author || "–", "col-author");
  const started = cell(tr, localTime(job.startTime), "col-started");
  started.title = fullTime(job.startTime);
  const end = job.endTime ? ms(job.endTime) : Date.now();
  cell(tr, duration((end - ms(job.startTime)) / 1000), "col-duration");
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
    button.addEventListener("click", async () => {
      const created = await rerunJob(job, info, note);
      if (created && !rowOf(created.id)) {   // its "created" event may have added it already
        body.prepend(rowFor(created));
        shown += 1;
      }
    });
    actions.append(button, note);
  }
  bulkRow(tr, job);
  return tr;
}

async function load(filters, { append = false } = {}) {
  const summary = $("#summary");
  try {
    const { data } = await api(query(filters, append ? next : null));
    if (!append) {
      body.textContent = "";
      shown = 0;
      shownFilters = filters;
      resetSelection();
    }
    for (const job of data.jobs) body.appendChild(rowFor(job));
    shown += data.jobs.length;
    next = data.next;
    more.hidden = !next;
    const what = [filters.q && `matching “${filters.q}”`, filters.type && `of type ${filters.type}`,
      filters.status && `with status ${filters.status}`,
      filters.signature && `failed with “${filters.signature}”`].filter(Boolean).join(", ");
    say(summary, shown ? `${shown} job${shown === 1 ? "" : "s"}${what ? ` ${what}` : ""}${next ? " (older ones below)" : ""}.`
      : `No jobs${what ? ` ${what}` : ""}.`, "ok");
  } catch (err) {
    say(summary, `Could not load jobs: ${err.message}`, "error");
  }
}

function applyToForm(filters) {
  form.elements.q.value = filters.q;
  form.elements.type.value = filters.type;
  form.elements.status.value = filters.status;
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const filters = { q: form.elements.q.value.trim(), type: form.elements.type.value,
    status: form.elements.status.value, signature: "" };
  const url = new URL(window.location.href);
  url.search = "";
  for (const [k, v] of Object.entries(filters)) if (v) url.searchParams.set(k, v);
  window.history.pushState(null, "", url);
  load(filters);
});

more.addEventListener("click", () => load(filtersFromUrl(), { append: true }));
window.addEventListener("popstate", () => {
  const filters = filtersFromUrl();
  applyToForm(filters);
  load(filters);
});

async function start() {
  try {
    const { data } = await api("/types");
    for (const t of data) {
      types.set(t.jobType, t);
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
  applyToForm(filters);
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
    if (!row && !f.q && !f.signature && (!f.type || data.jobType === f.type) && (!f.status || data.status === f.status)) {
      body.prepend(rowFor(data));
      shown += 1;
    }
  }
}

applyRole(api);
start();
