/* The Workers page: every process that runs jobs (live or gone, busy or idle, its jobs linked, heartbeat age) and
each job type's queue, from GET /workers, polled every few seconds while the page is visible. Rows are rebuilt
only when their text changes, so that focus and the reader's place stay put. */

import { api, onAuthLost } from "./api.js";
import { $, setText } from "./dom.js";
import { duration } from "./format.js";
import { jobLink } from "./common.js";
import { setLive } from "./header.js";
import { t } from "./i18n.js";

const POLL_MS = 3000;
const STATES = { busy: t("workers.state_busy"), idle: t("workers.state_idle"), gone: t("workers.state_gone") };
const workersBody = $("#workers-table tbody"); // i18n-ignore: a selector
const queuesBody = $("#queues-table tbody"); // i18n-ignore: a selector
const summary = $("#workers-summary");

onAuthLost(() => { window.location.href = "./"; });

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text !== undefined) td.textContent = text;
  row.appendChild(td);
  return td;
}

function stateOf(worker) {
  if (!worker.live) return "gone";
  return worker.busy ? "busy" : "idle";
}

function workerRow(worker) {
  const tr = document.createElement("tr");
  tr.dataset.workerId = worker.id;
  const id = cell(tr, worker.id, "worker-id");
  id.title = t("workers.host_pid", { host: worker.host, pid: String(worker.pid) });
  const state = stateOf(worker);
  const stateCell = cell(tr, STATES[state], "worker-state");
  stateCell.dataset.state = state;
  cell(tr, worker.executor);
  cell(tr, worker.concurrency == null ? t("workers.slots_any", { used: worker.jobs.length })
    : t("workers.slots", { used: worker.jobs.length, total: worker.concurrency }));
  cell(tr, t("time.ago", { when: duration(worker.heartbeatAge) }));
  cell(tr, worker.jobTypes.join(", "));
  const jobs = cell(tr);
  const list = jobs.appendChild(document.createElement("ul"));
  list.className = "worker-jobs";
  for (const job of worker.jobs) {
    const li = list.appendChild(document.createElement("li"));
    li.appendChild(jobLink(job.id));
    li.appendChild(document.createTextNode(` ${job.jobType}`));
  }
  if (!worker.jobs.length) jobs.textContent = "–";
  return tr;
}

function queueRow(queue) {
  const tr = document.createElement("tr");
  if (queue.queued && !queue.liveWorkers) tr.className = "queue-orphan";
  cell(tr, queue.jobType);
  cell(tr, String(queue.queued));
  cell(tr, queue.oldestWait == null ? "–" : duration(queue.oldestWait));
  cell(tr, queue.liveWorkers ? String(queue.liveWorkers) : t("workers.none"));
  return tr;
}

/** Replace the rows of `body` with `rows` where their text differs (a row's text stands for its content). Each
cell carries its column's name (data-label, from the table's own header, already in the viewer's language): on a
phone the rows are stacked cards without the header, and workers.css shows the name before the value. */
function fill(body, rows, empty, columns) {
  const names = [...body.closest("table").tHead.rows[0].cells].map((th) => th.textContent.trim());
  for (const row of rows) [...row.cells].forEach((td, i) => { td.dataset.label = names[i] || ""; });
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, empty);
    td.colSpan = columns;
    rows = [tr];
  }
  const old = [...body.children];
  rows.forEach((row, i) => {
    if (old[i] && old[i].textContent === row.textContent && old[i].className === row.className) return;
    if (old[i]) body.replaceChild(row, old[i]);
    else body.appendChild(row);
  });
  for (const extra of old.slice(rows.length)) extra.remove();
}

async function refresh() {
  try {
    const { data } = await api("/workers");
    const live = data.workers.filter((w) => w.live);
    const busy = live.filter((w) => w.busy).length;
    setText(summary, t("workers.summary", { count: live.length, busy, gone: data.workers.length - live.length,
      stale: duration(data.staleAfter) }));
    fill(workersBody, data.workers.map(workerRow), t("workers.no_workers"), 7);
    fill(queuesBody, data.queues.map(queueRow), t("workers.no_queues"), 4);
    setLive("live", t("workers.updated_every", { n: POLL_MS / 1000 }));
  } catch (err) {
    setText(summary, t("workers.load_failed", { error: err.message }));
    setLive("reconnecting", t("workers.retrying"));
  }
}

refresh();
setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
