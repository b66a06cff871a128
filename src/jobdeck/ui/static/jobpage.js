/* One job's page: what it is, how far it got (overall and per operation), its params and result, its messages
(newest first, filtered), and Re-run. While the job is active the page follows /events: a progress event moves
the bar at once and, at most every TREE_MS, re-reads the job for its operation tree (events do not carry the tree,
so that every other listener does not pay for it); messages and status changes re-read the whole job. Polling
covers the time the stream is down. */

import { API, api } from "./api.js";
import { followEvents } from "./follow.js";
import { setLive } from "./header.js";
import { $, setText } from "./dom.js";
import { duration, fullTime, ms, operationText, percent, shortId, timeFmt } from "./format.js";
import { applyRole, badge, jobHref, jobLink, say, statusText } from "./common.js";
import { t } from "./i18n.js";
import { rerunJob } from "./rerun.js";
import { followJobDiagnosis } from "./diagnosis.js";
import { budgetStop, shareElement, usageText } from "./spend.js";
import {
  announce, attemptFailures, attemptNews, createAttemptLine, patchAttemptLine, resumeJob, resumeLabel,
  tickAttemptLine, waitingToRetry,
} from "./retry.js"; // i18n-ignore: a module path
import { relative, scheduleLink } from "./schedinfo.js";

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
  fact(dl, t("job.fact.type"), typeInfo ? `${typeInfo.title} (${job.jobType})` : job.jobType);
  fact(dl, t("job.fact.status"), statusText(job.status));
  fact(dl, t("job.fact.author"), job.author || "–");
  fact(dl, t("job.fact.started"), fullTime(job.startTime) || "–");
  fact(dl, t("job.fact.ended"), job.endTime ? fullTime(job.endTime) : "–");
  const end = job.endTime ? ms(job.endTime) : Date.now();
  fact(dl, t("job.fact.duration"), duration((end - ms(job.startTime)) / 1000));
  fact(dl, t("job.fact.owner"), job.owner || "–");
  fact(dl, t("job.fact.id"), job.id);
  if (job.maxAttempts > 1) fact(dl, t("job.fact.attempt"), t("job.attempt_of", { attempt: job.attempt, max: job.maxAttempts }));
  if (job.rerunOf) fact(dl, t("job.fact.rerun_of"), jobLink(job.rerunOf));
  if (reruns && reruns.found.length) {
    const span = document.createElement("span");
    reruns.found.forEach((j, i) => {
      if (i) span.append(", ");
      span.append(jobLink(j.id), j.author ? t("job.rerun_by", { who: j.author }) : "");
    });
    if (!reruns.complete) span.append(t("job.reruns_partial"));
    fact(dl, t("job.fact.rerun_as"), span);
  }
  if (job.resumedFrom) fact(dl, t("job.fact.resumed_from"), jobLink(job.resumedFrom));
  if (job.scheduleId) fact(dl, t("job.fact.schedule"), scheduleLink(job.scheduleId));
  // A one-off start (or a schedule's occurrence) waits queued until it is due.
  if (job.runAt) {
    const when = job.status === "queued" ? ` (${relative(job.runAt)})` : "";
    fact(dl, t("job.fact.due"), `${fullTime(job.runAt)}${when}`);
  }
  if (job.abortReason) fact(dl, t("job.fact.abort_reason"), job.abortReason);
  if (job.abortedBy) fact(dl, t("job.fact.aborted_by"), job.abortedBy);
  if (budgetStop(job)) fact(dl, t("job.fact.stopped_by"), t("job.budget_not_person"));
  if (job.usage) fact(dl, t("job.fact.spent"), usageText(job.usage));
}

/** The jobs that re-ran this one, newest first: ``{found, complete}``. A re-run starts after its original started,
 * so it also ends after that: reading this type's jobs newest ended first can stop at the first one that ended
 * before this job started (or after a few pages, saying the list may be incomplete). */
let reruns = null;
async function findReruns() {
  const found = [];
  let before = null;
  for (let pages = 0; pages < 5; pages += 1) {
    const query = new URLSearchParams({ jobType: job.jobType, limit: "200" });
    if (before) query.set("before", before);
    const { data } = await api(`/search?${query}`);
    for (const other of data.jobs) if (other.rerunOf === job.id) found.push(other);
    const ended = data.jobs.filter((other) => other.endTime);
    const last = ended[ended.length - 1];
    if (!data.next || !last || ms(last.endTime) < ms(job.startTime)) return { found, complete: true };
    before = data.next;
  }
  return { found, complete: false };
}

async function showReruns() {
  try {
    reruns = await findReruns();
    if (reruns.found.length) renderFacts();
  } catch {
    /* the facts stay without "Re-run as" */
  }
}

const STATE_WORDS = { done: "job.op.done", started: "job.op.started", pending: "job.op.pending" };

function renderCurrent() {
  const op = job.currentOperation;
  const el = $("#op-current");
  if (!op) setText(el, ACTIVE.has(job.status) ? t("job.op.none_yet") : t("job.op.none"));
  else if (!ACTIVE.has(job.status)) setText(el, t("job.op.last", { operation: operationText(op) }));
  else setText(el, t("job.op.current", { operation: operationText(op), percent: percent(job.progress) }));
}

function operationItem(node, ids) {
  const li = document.createElement("li");
  if (node.more !== undefined) {
    li.className = "op-more";
    li.textContent = t("job.op.more", { count: node.more, done: node.done });
    return li;
  }
  const p = percent(node.progress);
  const id = `op-${ids.next++}`;
  li.className = `op op-${node.state}`;
  const row = document.createElement("div");
  row.className = "op-row";
  const name = document.createElement("span");
  name.className = "op-name";
  name.id = id;
  name.textContent = node.id;
  if (node.weight !== undefined && node.weight !== 1) {
    const weight = document.createElement("span");
    weight.className = "op-weight";
    weight.textContent = t("job.op.weight", { weight: node.weight });
    name.appendChild(weight);
  }
  const state = document.createElement("span");
  state.className = "op-state";
  // An operation still under way when its job ended did not finish: the one a failure broke is "Failed", the
  // others "Stopped", not "In progress"; each coloured so.
  const ended = node.state === "started" && !ACTIVE.has(job.status);
  const failedHere = ended && job.status === "failed" && node.id === failedIn();
  if (ended) li.classList.add(failedHere ? "op-failed" : "op-stopped");
  state.textContent = failedHere ? t("job.op.failed") : ended ? t("job.op.stopped")
    : STATE_WORDS[node.state] ? t(STATE_WORDS[node.state]) : node.state;
  const bar = document.createElement("div");
  bar.className = "progress";
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-labelledby", id);
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(p));
  bar.setAttribute("aria-valuetext", `${p}%, ${state.textContent.toLowerCase()}`);
  const fill = document.createElement("div");
  fill.className = "progress-fill";
  fill.style.width = `${p}%`;
  bar.appendChild(fill);
  const pct = document.createElement("span");
  pct.className = "op-pct";
  pct.textContent = `${p}%`;
  row.append(name, state, bar, pct);
  if (node.usage) row.append(shareElement(node.usage));
  li.appendChild(row);
  if (node.children && node.children.length) {
    const ul = document.createElement("ul");
    for (const child of node.children) ul.appendChild(operationItem(child, ids));
    li.appendChild(ul);
  }
  return li;
}

let treeKey = "";

/** The operation the job was in when it ended: the deepest one still under way, else its current operation. */
function failedIn() {
  let found = null;
  const walk = (nodes) => {
    for (const node of nodes || []) {
      if (node.state === "started") {
        found = node.id;
        walk(node.children);
        return;
      }
    }
  };
  walk(job.operations);
  return found || (job.currentOperation ? job.currentOperation.id : null);
}

/** The outcome banner under the title: a failed job's error, an aborted job's reason and who aborted it. */
function renderOutcome() {
  const box = $("#outcome");
  const failed = job.status === "failed";
  const aborted = job.status === "aborted" || job.status === "aborting";
  box.hidden = !failed && !aborted;
  if (box.hidden) return;
  box.dataset.kind = failed ? "failed" : "aborted";
  const errors = job.errorMessages || [];
  const where = failedIn();
  if (failed) {
    setText($("#outcome-title"), t("job.outcome.failed"));
    const last = errors.length ? errors[errors.length - 1].message : "";
    setText($("#outcome-text"), String(last).split("\n", 1)[0] || t("job.outcome.no_error"));
  } else {
    const asked = job.status === "aborting";
    setText($("#outcome-title"), asked ? t("job.outcome.abort_requested") : t("job.outcome.aborted"));
    const values = {
      who: job.abortedBy ? t("job.outcome.by", { who: job.abortedBy }) : t("job.outcome.by_unnamed"),
      at: job.abortRequestedTime ? t("job.outcome.at", { time: fullTime(job.abortRequestedTime) }) : "",
      reason: job.abortReason ? job.abortReason : t("job.outcome.no_reason"),
    };
    setText($("#outcome-text"), asked ? t("job.outcome.asked_by", values) : t("job.outcome.aborted_by", values));
  }
  const whereEl = $("#outcome-where");
  whereEl.textContent = "";
  if (where) {
    const code = document.createElement("code");
    code.textContent = where;
    const position = job.currentOperation
      ? t("job.outcome.position", { index: job.currentOperation.index, total: job.currentOperation.total }) : "";
    // The operation's name goes into the sentence as code: split the words around it.
    const [before, after] = t(failed ? "job.outcome.in" : "job.outcome.stopped_in", { position })
      .split("{operation}");
    whereEl.append(before, code, after ?? "");
  }
  whereEl.hidden = !where;
}

$("#outcome-all").addEventListener("click", () => {
  const form = $("#msg-filters");
  for (const box of form.querySelectorAll('input[name="level"]')) box.checked = true;
  form.elements.text.value = "";
  shownCount = PAGE;
  renderMessages();
  const heading = $("#messages-title");
  heading.setAttribute("tabindex", "-1");
  heading.scrollIntoView({ block: "start" });
  heading.focus();
});

function renderOperations() {
  renderCurrent();
  const tree = $("#op-tree");
  const nodes = job.operations || [];
  const key = `${ACTIVE.has(job.status)}:${JSON.stringify(nodes)}`;
  if (treeKey === key) return;   // unchanged: leave the DOM (and anything a reader is on) alone
  treeKey = key;
  const ids = { next: 1 };
  const frag = document.createDocumentFragment();
  for (const node of nodes) frag.appendChild(operationItem(node, ids));
  tree.textContent = "";
  tree.appendChild(frag);
  tree.hidden = nodes.length === 0;
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
    kind.textContent = m.type === "error" ? t("job.kind.error") : m.type === "warning" ? t("job.kind.warning")
      : t("job.kind.info");
    const body = document.createElement("span");
    body.className = "msg-text";
    body.textContent = m.text;
    li.append(time, kind, body);
    frag.appendChild(li);
  }
  list.appendChild(frag);
  setText($("#msg-count"), String(all.length));
  const showing = page.length < matching.length ? t("job.msg.showing", { shown: page.length }) : "";
  setText($("#msg-summary"), matching.length === all.length
    ? t("job.msg.all", { count: all.length, showing })
    : t("job.msg.matching", { matching: matching.length, count: all.length, showing }));
  $("#older").hidden = page.length >= matching.length;
}

/** Each failed attempt's error ("attempt 1 of 3 failed: ..." warnings, and the last attempt's error), oldest
 * first, above the messages. */
let attemptsKey = "";
function renderAttempts() {
  const failures = attemptFailures(job);
  const key = JSON.stringify(failures);
  if (key === attemptsKey) return;
  attemptsKey = key;
  const list = $("#attempts");
  list.textContent = "";
  for (const f of failures) {
    const li = document.createElement("li");
    li.className = "attempt-failure";
    const head = document.createElement("strong");
    head.textContent = t("retry.attempt", { attempt: f.attempt, max: f.max });
    const time = document.createElement("time");
    time.dateTime = f.iso;
    time.textContent = Number.isNaN(ms(f.iso)) ? "" : timeFmt.format(new Date(ms(f.iso)));
    time.title = fullTime(f.iso);
    const text = document.createElement("span");
    text.className = "attempt-error";
    text.textContent = f.text.split("\n", 1)[0];
    li.append(head, time, text);
    list.appendChild(li);
  }
  $("#attempts-section").hidden = failures.length === 0;
}

/** "Attempt 2 of 5 · retrying in 41 s" under the title; the page's one clock runs only while a retry waits. */
const attemptLine = createAttemptLine();
$(".job-title-row").after(attemptLine.root);
let clock = 0;

function renderAttempt() {
  const before = attemptLine.key;
  const after = patchAttemptLine(attemptLine, job, Date.now());
  if (before !== null && after && after !== before) {
    announce($("#attempt-news"), attemptNews(job, typeInfo ? typeInfo.title : job.jobType));
  }
  if (waitingToRetry(job) && !clock) {
    clock = setInterval(() => {
      if (!document.hidden && job) tickAttemptLine(attemptLine, job, Date.now());
    }, 1000);
  } else if (!waitingToRetry(job) && clock) {
    clearInterval(clock);
    clock = 0;
  }
}

function renderResume() {
  const label = typeInfo ? resumeLabel(job) : null;
  const button = $("#resume");
  button.hidden = !label;
  if (label) setText(button, label);
}

function renderProgress() {
  const p = percent(job.progress);
  const bar = $("#job-progress");
  bar.setAttribute("aria-valuenow", String(p));
  bar.setAttribute("aria-valuetext", `${p}%`);
  $(".progress-fill", bar).style.width = `${p}%`;
  setText($("#job-progress-text"), `${p}%`);
}

function render() {
  document.title = t("job.doc_title", { id: shortId(job.id) });
  setText($("#job-title"), t("job.heading_id", { type: typeInfo ? typeInfo.title : job.jobType, id: shortId(job.id) }));
  badge($("#job-status"), job.status);
  renderOutcome();
  renderAttempt();
  renderFacts();
  renderProgress();
  renderOperations();
  setText($("#job-params"), JSON.stringify(job.params ?? null, null, 2));
  setText($("#job-result"), JSON.stringify(job.result ?? null, null, 2));
  const active = ACTIVE.has(job.status);
  $("#rerun").hidden = active || !typeInfo;
  renderResume();
  // A job waiting for a worker or for its next attempt can be aborted too: it ends at once.
  $("#abort").hidden = job.status !== "running" && job.status !== "queued";
  renderAttempts();
  renderMessages();
  $("#job-body").hidden = false;
}

const TREE_MS = 500;       // the page re-reads the job's tree at most this often while progress events arrive
const POLL_MS = 1500;      // polling while the stream is down
const LIVE_POLL_MS = 15000; // and, as a safety net, while it is up
let source = null;  // stops following /events
let live = false;
let soon = 0;
let soonFull = false;

/** Read the job: ``full`` with its messages, else its head and operation tree only (messages kept as shown). */
async function refresh(full = true) {
  clearTimeout(timer);
  try {
    const { data } = await api(`/single/${encodeURIComponent(jobId)}/progress?messages=${full ? "all" : "none"}`);
    if (!full && job) {
      for (const field of ["infoMessages", "warningMessages", "errorMessages"]) data[field] = job[field];
    }
    job = data;
    render();
    if (ACTIVE.has(job.status)) {
      follow();
      timer = setTimeout(refresh, live ? LIVE_POLL_MS : POLL_MS);
    } else {
      unfollow();
    }
  } catch (err) {
    if (err.status === 404 || err.status === 400) {
      unfollow();
      setText($("#job-title"), t("job.not_found"));
      const missing = $("#job-missing");
      missing.hidden = false;
      missing.textContent = `${t("job.missing", { id: jobId })} `;
      const link = document.createElement("a");
      link.href = "jobs";
      link.textContent = t("job.find");
      missing.appendChild(link);
      $("#job-body").hidden = true;
    } else {
      say(note, t("job.load_failed", { error: err.message }), "error");
      timer = setTimeout(refresh, 3000);
    }
  }
}

/** Re-read the job within TREE_MS, once however many events asked for it. */
function refreshSoon(full) {
  soonFull = soonFull || full;
  if (soon) return;
  soon = setTimeout(() => {
    const wantFull = soonFull;
    soon = 0;
    soonFull = false;
    refresh(wantFull);
  }, TREE_MS);
}

function onEvent(type, payload) {
  if (type === "reset") {
    refreshSoon(true);
    return;
  }
  if (!job || payload.jobId !== job.id) return;
  if (type === "progress") {
    job.progress = payload.data.progress;
    job.currentOperation = payload.data.currentOperation;
    renderProgress();
    renderCurrent();
    refreshSoon(false);
  } else {
    refreshSoon(true);
  }
}

function follow() {
  if (source) return;
  source = followEvents({
    onEvent,
    onUp: () => {
      live = true;
    },
    onDown: () => {
      live = false;   // polling takes over until the stream is back
      clearTimeout(timer);
      timer = setTimeout(refresh, POLL_MS);
    },
  });
}

function unfollow() {
  if (source) source();
  source = null;
  live = false;
  setLive("idle", job && !ACTIVE.has(job.status) ? t("job.live.ended") : t("job.live.off"));
}

// After a re-run the page goes to the new job: that is what the admin wants to watch next.
$("#rerun").addEventListener("click", async () => {
  const created = await rerunJob(job, typeInfo, note);
  if (created) window.location.assign(jobHref(created.id));
});

$("#resume").addEventListener("click", (e) => resumeJob(job, note, e.currentTarget));

$("#abort").addEventListener("click", async () => {
  try {
    await api(`/single/${encodeURIComponent(job.id)}/abort`, { body: {} });
    say(note, t("job.abort_requested", { id: shortId(job.id) }), "ok");
    refresh();
  } catch (err) {
    say(note, t("job.abort_refused", { error: err.message }), "error");
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
$("#download").href = `${API}/single/${encodeURIComponent(jobId)}/messages.jsonl`; // i18n-ignore: an address

async function start() {
  try {
    const { data } = await api("/types");
    await refresh();
    typeInfo = job ? data.find((info) => info.jobType === job.jobType) || null : null;
    if (job) render();
    if (job) await showReruns();
  } catch (err) {
    await refresh();
  }
  document.body.dataset.ready = "true";
}

applyRole(api);
start();
followJobDiagnosis(jobId, $("#job-diagnosis"));
