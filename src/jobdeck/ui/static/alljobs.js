/* The All jobs page: a table of jobs of every type, filtered and searched by the store, paged by its cursor.
The filters live in the address (?q=&type=&status=) so that a view can be bookmarked and shared. */

import { api } from "./api.js";
import { $, setText } from "./dom.js";
import { duration, fullTime, localTime, ms, percent } from "./format.js";
import { applyRole, badge, firstLine, jobLink, say } from "./common.js";
import { rerunJob } from "./rerun.js";

const PAGE = 50;
const ACTIVE = new Set(["queued", "running", "aborting"]);
const form = $("#filters");
const body = $("#jobs-table tbody");
const more = $("#more");
const types = new Map();
let next = null;
let shown = 0;

function filtersFromUrl() {
  const url = new URL(window.location.href);
  return { q: url.searchParams.get("q") || "", type: url.searchParams.get("type") || "",
    status: url.searchParams.get("status") || "" };
}

function query(filters, before) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (filters.q) params.set("q", filters.q);
  if (filters.type) params.set("jobType", filters.type);
  if (filters.status) params.set("status", filters.status);
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

function rowFor(job) {
  const tr = document.createElement("tr");
  tr.dataset.jobId = job.id;
  tr.dataset.status = job.status;
  const info = types.get(job.jobType);
  const type = cell(tr, info ? info.title : job.jobType, "col-type");
  type.title = job.jobType;
  badge(cell(tr, undefined, "col-status").appendChild(document.createElement("span")), job.status);
  cell(tr, undefined, "col-id").appendChild(jobLink(job.id));
  cell(tr, job.author || "–", "col-author");
  const started = cell(tr, localTime(job.startTime), "col-started");
  started.title = fullTime(job.startTime);
  const end = job.endTime ? ms(job.endTime) : Date.now();
  cell(tr, duration((end - ms(job.startTime)) / 1000), "col-duration");
  let detail = "";
  if (ACTIVE.has(job.status)) detail = `${percent(job.progress)}%`;
  else if (job.status === "failed") detail = firstLine(job.lastError) || "Failed";
  else if (job.status === "aborted") detail = job.abortReason ? `Aborted: ${job.abortReason}` : "Aborted";
  else detail = "Done";
  const what = cell(tr, detail, "col-detail");
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
      if (created) {
        body.prepend(rowFor(created));
        shown += 1;
      }
    });
    actions.append(button, note);
  }
  return tr;
}

async function load(filters, { append = false } = {}) {
  const summary = $("#summary");
  try {
    const { data } = await api(query(filters, append ? next : null));
    if (!append) {
      body.textContent = "";
      shown = 0;
    }
    for (const job of data.jobs) body.appendChild(rowFor(job));
    shown += data.jobs.length;
    next = data.next;
    more.hidden = !next;
    const what = [filters.q && `matching “${filters.q}”`, filters.type && `of type ${filters.type}`,
      filters.status && `with status ${filters.status}`].filter(Boolean).join(", ");
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
    status: form.elements.status.value };
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
  await load(filters);
  document.body.dataset.ready = "true";
}

applyRole(api);
start();
