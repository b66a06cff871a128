/* One job's page: what it is, how far it got, its params and result, its messages (newest first, filtered),
and Re-run. The job is polled while it is active. */

import { API, api } from "./api.js";
import { $, setText } from "./dom.js";
import { duration, fullTime, ms, operationText, percent, shortId, timeFmt } from "./format.js";
import { applyRole, badge, jobLink, say, statusText } from "./common.js";
import { rerunJob } from "./rerun.js";

const ACTIVE = new Set(["queued", "running", "aborting"]);
const PAGE = 200;   // messages rendered at first; "Show older messages" adds as many again
const jobId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");
const note = $("#action-note");
let job = null;
let typeInfo = null;
let shownCount = PAGE;
let timer = 0;

function fact(dl, term, value) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.appendChild(value);
  else dd.textContent = value;
  div.append(dt, dd);
  dl.appendChild(div);
}

function renderFacts() {
  const dl = $("#facts");
  dl.textContent = "";
  fact(dl, "Type", typeInfo ? `${typeInfo.title} (${job.jobType})` : job.jobType);
  fact(dl, "Status", statusText(job.status));
  fact(dl, "Author", job.author || "–");
  fact(dl, "Started", fullTime(job.startTime) || "–");
  fact(dl, "Ended", job.endTime ? fullTime(job.endTime) : "–");
  const end = job.endTime ? ms(job.endTime) : Date.now();
  fact(dl, "Duration", duration((end - ms(job.startTime)) / 1000));
  fact(dl, "Owner process", job.owner || "–");
  fact(dl, "Job id", job.id);
  if (job.rerunOf) fact(dl, "Re-run of", jobLink(job.rerunOf));
  if (job.abortReason) fact(dl, "Abort reason", job.abortReason);
}

function renderOperations() {
  const list = $("#operations");
  list.textContent = "";
  const op = job.currentOperation;
  const li = document.createElement("li");
  if (!op) li.textContent = ACTIVE.has(job.status) ? "No operations reported yet." : "The job reported no operations.";
  else if (!ACTIVE.has(job.status)) li.textContent = `Last operation: ${operationText(op)}`;
  else li.textContent = `Current operation: ${operationText(op)} (${percent(job.progress)}% of the whole job)`;
  list.appendChild(li);
}

function allMessages() {
  const out = [];
  for (const [field, type] of [["infoMessages", "info"], ["warningMessages", "warning"], ["errorMessages", "error"]]) {
    for (const m of job[field] || []) out.push({ type, text: m.message, iso: m.timestamp, t: ms(m.timestamp) });
  }
  out.sort((a, b) => b.t - a.t);   // newest first
  return out;
}

function renderMessages() {
  const form = $("#msg-filters");
  const levels = new Set([...form.querySelectorAll('input[name="level"]:checked')].map((el) => el.value));
  const text = form.elements.text.value.trim().toLowerCase();
  const all = allMessages();
  const matching = all.filter((m) => levels.has(m.type) && (!text || m.text.toLowerCase().includes(text)));
  const page = matching.slice(0, shownCount);
  const list = $("#messages");
  list.textContent = "";
  const frag = document.createDocumentFragment();
  for (const m of page) {
    const li = document.createElement("li");
    li.className = `msg msg-${m.type}`;
    const time = document.createElement("time");
    time.dateTime = m.iso;
    time.textContent = Number.isNaN(m.t) ? "" : timeFmt.format(new Date(m.t));
    time.title = fullTime(m.iso);
    const kind = document.createElement("span");
    kind.className = "msg-kind";
    kind.textContent = m.type === "error" ? "Error" : m.type === "warning" ? "Warning" : "Info";
    const body = document.createElement("span");
    body.className = "msg-text";
    body.textContent = m.text;
    li.append(time, kind, body);
    frag.appendChild(li);
  }
  list.appendChild(frag);
  setText($("#msg-count"), String(all.length));
  setText($("#msg-summary"), matching.length === all.length
    ? `${all.length} message${all.length === 1 ? "" : "s"}, newest first${page.length < matching.length ? `; showing the newest ${page.length}` : ""}.`
    : `${matching.length} of ${all.length} messages match${page.length < matching.length ? `; showing the newest ${page.length}` : ""}.`);
  $("#older").hidden = page.length >= matching.length;
}

function render() {
  document.title = `jobdeck · job ${shortId(job.id)}`;
  setText($("#job-title"), `${typeInfo ? typeInfo.title : job.jobType} · job ${shortId(job.id)}`);
  badge($("#job-status"), job.status);
  renderFacts();
  const p = percent(job.progress);
  const bar = $("#job-progress");
  bar.setAttribute("aria-valuenow", String(p));
  bar.setAttribute("aria-valuetext", `${p}%`);
  $(".progress-fill", bar).style.width = `${p}%`;
  setText($("#job-progress-text"), `${p}%`);
  renderOperations();
  setText($("#job-params"), JSON.stringify(job.params ?? null, null, 2));
  setText($("#job-result"), JSON.stringify(job.result ?? null, null, 2));
  const active = ACTIVE.has(job.status);
  $("#rerun").hidden = active || !typeInfo;
  $("#abort").hidden = job.status !== "running";
  renderMessages();
  $("#job-body").hidden = false;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const { data } = await api(`/single/${encodeURIComponent(jobId)}/progress?messages=all`);
    job = data;
    render();
    if (ACTIVE.has(job.status)) timer = setTimeout(refresh, 1500);
  } catch (err) {
    if (err.status === 404 || err.status === 400) {
      setText($("#job-title"), "Job not found");
      const missing = $("#job-missing");
      missing.hidden = false;
      missing.textContent = `No job ${jobId} exists (any more): it may have been removed by cleanup or retention. `;
      const link = document.createElement("a");
      link.href = "jobs";
      link.textContent = "Find jobs";
      missing.appendChild(link);
      $("#job-body").hidden = true;
    } else {
      say(note, `Could not load the job: ${err.message}`, "error");
      timer = setTimeout(refresh, 3000);
    }
  }
}

$("#rerun").addEventListener("click", async () => {
  const created = await rerunJob(job, typeInfo, note);
  if (created) {
    const link = jobLink(created.id);
    note.append(" ");
    link.textContent = "";
    link.removeAttribute("aria-label");
    const code = document.createElement("code");
    code.textContent = shortId(created.id);
    link.append("Open job ", code);
    note.appendChild(link);
  }
});

$("#abort").addEventListener("click", async () => {
  try {
    await api(`/single/${encodeURIComponent(job.id)}/abort`, { body: {} });
    say(note, `Abort requested for job ${shortId(job.id)}.`, "ok");
    refresh();
  } catch (err) {
    say(note, `Abort refused: ${err.message}`, "error");
  }
});

$("#msg-filters").addEventListener("input", () => {
  shownCount = PAGE;
  if (job) renderMessages();
});
$("#msg-filters").addEventListener("submit", (e) => e.preventDefault());
$("#older").addEventListener("click", () => {
  shownCount += PAGE;
  renderMessages();
});
$("#download").href = `${API}/single/${encodeURIComponent(jobId)}/messages.jsonl`;

async function start() {
  try {
    const { data } = await api("/types");
    await refresh();
    typeInfo = job ? data.find((t) => t.jobType === job.jobType) || null : null;
    if (job) render();
  } catch (err) {
    await refresh();
  }
  document.body.dataset.ready = "true";
}

applyRole(api);
start();
