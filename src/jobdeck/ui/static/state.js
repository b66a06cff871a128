/* The page's state: one job map, one message log per job, and the idempotent changes that keep them current.

Snapshots and live events go through the same upserts, so a replayed event or an overlapping poll changes
nothing. A change only marks what it touched as dirty and asks for a render; the views patch those nodes.
*/

import { api } from "./api.js";
import { ms } from "./format.js";

export const ACTIVE = new Set(["queued", "running", "aborting"]);
const MSG_KEEP = 3000;          // messages kept in memory per panel (the store keeps 1000 per kind)
export const PAST_LIMIT = 1000; // past jobs loaded per snapshot
export const SUMMARY_RUNS = 50; // newest past jobs per type drawn before the rest of the history arrives
export const OPEN_MESSAGES = 200; // newest messages of each kind loaded with a job; older ones on demand

export const state = {
  types: new Map(),        // jobType -> type info from /types
  jobs: new Map(),         // id -> job head (message lists stripped)
  logs: new Map(),         // id -> MessageLog
  stats: null,
  dayCounted: false,   // whether the completed, failed and aborted counts are the last 24 hours' yet
  pastCounts: new Map(),   // jobType -> {total, counts: {status: n}} from /past/summary (the store's own count)
  pastCursor: null,
  lastEventId: "",
  filter: "all",
  authLost: false,
  loaded: false,
  queued: [],              // events that arrive before the first snapshot
};

export const isActive = (job) => ACTIVE.has(job.status);

export class MessageLog {
  /** Warnings+errors and info of one job, oldest first, deduplicated by (type, timestamp, text). */
  constructor() {
    this.problems = { items: [], base: 0, reordered: false };
    this.info = { items: [], base: 0, reordered: false };
    this.keys = new Set();
    this.complete = false;   // holds every message the server has (not just the newest of a list view)
    this.loading = null;
  }

  add(m) {
    const key = `${m.type}\u0000${m.timestamp}\u0000${m.message}`;
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    const list = m.type === "info" ? this.info : this.problems;
    const entry = { type: m.type, text: m.message, iso: m.timestamp, t: ms(m.timestamp), key };
    const items = list.items;
    if (items.length && entry.t < items[items.length - 1].t) {
      let i = items.length;
      while (i > 0 && items[i - 1].t > entry.t) i--;
      items.splice(i, 0, entry);
      list.reordered = true;   // the panel renders from scratch rather than appending
    } else {
      items.push(entry);
    }
    if (items.length > MSG_KEEP + 500) {
      const dropped = items.splice(0, items.length - MSG_KEEP);
      for (const d of dropped) this.keys.delete(d.key);
      list.base += dropped.length;
    }
    return true;
  }

  /** A job's message lists (a snapshot): merged as a batch, so that messages of the same millisecond as ones
   * already here (say the newest, loaded first) keep the server's order instead of landing after them. */
  addJob(job) {
    const fresh = { info: [], problems: [] };
    for (const field of ["warningMessages", "errorMessages", "infoMessages"]) {
      for (const m of job[field] || []) {
        const key = `${m.type}\u0000${m.timestamp}\u0000${m.message}`;
        if (this.keys.has(key)) continue;
        this.keys.add(key);
        (m.type === "info" ? fresh.info : fresh.problems).push(
          { type: m.type, text: m.message, iso: m.timestamp, t: ms(m.timestamp), key });
      }
    }
    for (const kind of ["info", "problems"]) {
      const entries = fresh[kind];
      if (!entries.length) continue;
      entries.sort((a, b) => a.t - b.t);   // stable: one kind's order is kept
      const list = this[kind];
      const last = list.items.length ? list.items[list.items.length - 1].t : -Infinity;
      if (entries[0].t > last) {
        list.items.push(...entries);
      } else {
        // Older than what is here: the snapshot goes first among equal times (it came from the store in order).
        list.items = [...entries, ...list.items].sort((a, b) => a.t - b.t);
        list.reordered = true;
      }
      if (list.items.length > MSG_KEEP + 500) {
        const dropped = list.items.splice(0, list.items.length - MSG_KEEP);
        for (const d of dropped) this.keys.delete(d.key);
        list.base += dropped.length;
      }
    }
    return fresh.info.length + fresh.problems.length > 0;
  }

  newest(kind) {
    const items = this[kind].items;
    return items.length ? items[items.length - 1] : null;
  }
}

/** A log loaded with the newest OPEN_MESSAGES of each kind is complete when no kind filled its quota. */
export function markComplete(job) {
  const log = logOf(job.id);
  if (["infoMessages", "warningMessages", "errorMessages"].every((f) => (job[f] || []).length < OPEN_MESSAGES)) {
    log.complete = true;
  }
}

/** Every message of a job, for "show older" (at most the store's cap per kind). */
export function loadOlder(id) {
  const log = logOf(id);
  if (log.complete) return Promise.resolve();
  if (!log.loading) {
    log.loading = api(`/single/${encodeURIComponent(id)}/progress?messages=all`)
      .then(({ data }) => {
        log.addJob(data);
        log.complete = true;
        touchJob(id);
      })
      .finally(() => { log.loading = null; });
  }
  return log.loading;
}

export function logOf(id) {
  let log = state.logs.get(id);
  if (!log) {
    log = new MessageLog();
    state.logs.set(id, log);
  }
  return log;
}

export const dirty = { jobs: new Set(), types: new Set(), stats: false, allPast: false, cards: false };
let scheduled = false;

let render = () => {};

/** The views' flush: runs once per animation frame after changes. */
export function onRender(handler) {
  render = handler;
}

function runRender() {
  scheduled = false;
  render();
}

export function schedule() {
  if (scheduled) return;
  scheduled = true;
  // Animation frames pause in hidden tabs; a timer keeps state current so the tab is right when shown.
  if (document.hidden) setTimeout(runRender, 250);
  else requestAnimationFrame(runRender);
}

export function touchJob(id) {
  dirty.jobs.add(id);
  schedule();
}

export function touchType(type) {
  dirty.types.add(type);
  schedule();
}

function stripMessages(job) {
  const head = { ...job };
  delete head.infoMessages;
  delete head.warningMessages;
  delete head.errorMessages;
  return head;
}

/** Insert or update a job from any source. Returns false when the data is older than what we have. */
export function upsertJob(job, { messages = "none", fromEvent = false } = {}) {
  const prev = state.jobs.get(job.id);
  if (prev) {
    if (!isActive(prev) && isActive(job)) return false;   // terminal is final: this snapshot is stale
    if (isActive(prev) && isActive(job) && ms(job.lastActivityTime) < ms(prev.lastActivityTime)) {
      if (prev.status === job.status) return false;
    }
  }
  const head = stripMessages(job);
  const errs = job.errorMessages;
  head.lastError = errs && errs.length ? errs[errs.length - 1].message : prev ? prev.lastError : null;
  const log = logOf(job.id);
  if (messages !== "none") log.addJob(job);
  if (messages === "all" || (fromEvent && !prev)) log.complete = true;
  const newest = log.newest("problems");
  if (newest && newest.type === "error") head.lastError = newest.text;
  state.jobs.set(job.id, head);

  if (!prev || prev.status !== head.status) {
    if (state.stats && (prev || fromEvent)) {
      if (prev) state.stats[prev.status] = Math.max(0, (state.stats[prev.status] || 0) - 1);
      state.stats[head.status] = (state.stats[head.status] || 0) + 1;
      state.stats.active = (state.stats.queued || 0) + (state.stats.running || 0) + (state.stats.aborting || 0);
      dirty.stats = true;
    }
    touchType(head.jobType);
  }
  touchJob(job.id);
  return true;
}

export function removeJob(id) {
  const job = state.jobs.get(id);
  if (!job) return;
  state.jobs.delete(id);
  state.logs.delete(id);
  touchType(job.jobType);
  refreshStatsSoon();
}

function applyProgress(id, data) {
  const job = state.jobs.get(id);
  if (!job) {
    fetchJob(id);
    return;
  }
  if (!isActive(job) || ms(data.lastActivityTime) < ms(job.lastActivityTime)) return;
  job.progress = data.progress;
  job.lastActivityTime = data.lastActivityTime;
  job.currentOperation = data.currentOperation;
  touchJob(id);
}

function applyMessage(id, data) {
  const job = state.jobs.get(id);
  if (!job) {
    fetchJob(id);
    return;
  }
  if (logOf(id).add(data.message)) {
    if (data.message.type === "error") job.lastError = data.message.message;
    if (ms(data.lastActivityTime) > ms(job.lastActivityTime)) job.lastActivityTime = data.lastActivityTime;
    touchJob(id);
  }
}

const fetching = new Set();
export async function fetchJob(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const { data } = await api(`/single/${encodeURIComponent(id)}/progress?messages=all`);
    upsertJob(data, { messages: "all" });
  } catch (err) {
    if (err.status === 404) removeJob(id);
  } finally {
    fetching.delete(id);
  }
}

function setPastCounts(summaries) {
  state.pastCounts = new Map(summaries.map((s) => [s.jobType, { total: s.total, counts: s.counts }]));
  dirty.allPast = true;
}

/** How many jobs completed, failed and were aborted in the last 24 hours (what the health counters say): one
 * read of the past jobs that ended since then (/past?startFrom=, no messages). Jobs that end later are counted as
 * their status events arrive (upsertJob); the next refresh drops those that aged out. */
async function lastDay() {
  const since = Date.now() - 86400e3;
  const counts = { completed: 0, failed: 0, aborted: 0 };
  const { data } = await api(`/past?messages=none&startFrom=${encodeURIComponent(new Date(since).toISOString())}`);
  for (const job of data) {
    if (Date.parse(job.endTime) >= since && job.status in counts) counts[job.status] += 1;
  }
  return counts;
}

/** The day's counts, read after the first paint (the cards do not wait for them); "–" until then. */
function loadDay() {
  lastDay().then((day) => {
    state.stats = { ...(state.stats || {}), ...day };
    state.dayCounted = true;
    dirty.stats = true;
    schedule();
  }, () => {});
}

let statsTimer = 0;
export function refreshStatsSoon() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(async () => {
    try {
      const [stats, summary, day] = await Promise.all([api("/stats"), api("/past/summary?runs=0"), lastDay()]);
      state.stats = { ...stats.data, ...day };
      state.dayCounted = true;
      setPastCounts(summary.data);
      dirty.stats = true;
      schedule();
    } catch {
      /* the next change or poll tries again */
    }
  }, 600);
}

/** Load the whole state: first load, `reset` events, and recovery. Jobs the server no longer has go.
 *
 * In two steps, so that the cards and counts never wait for the history: first the small answers (types,
 * counts, active jobs, and each type's newest past jobs from /past/summary: what the cards show first), drawn
 * at once; then the rest of the past jobs, as summaries (a past job's messages load when it is opened, see
 * openPast, and why failed jobs failed right after, see loadFailureReasons). */
export async function loadAll() {
  const held = new Set(state.jobs.keys());   // what a reload may find gone
  const [types, stats, active, summary] = await Promise.all([
    api("/types"),
    api("/stats"),
    api("/active?messages=all"),   // a few jobs, each capped: their panels are open and live
    api(`/past/summary?runs=${SUMMARY_RUNS}`),
  ]);
  state.types = new Map(types.data.map((t) => [t.jobType, t]));
  const seen = new Set();
  for (const job of active.data) {
    seen.add(job.id);
    upsertJob(job, { messages: "all" });
  }
  for (const type of summary.data) {
    for (const job of type.recent) {
      seen.add(job.id);
      upsertJob(job, { messages: "last" });
    }
  }
  setPastCounts(summary.data);
  state.stats = stats.data;   // after the upserts, which would otherwise count their changes twice
  state.dayCounted = false;
  loadDay();
  state.loaded = true;
  dirty.stats = true;
  dirty.cards = true;
  schedule();
  const queued = state.queued.splice(0);
  for (const ev of queued) applyEvent(ev.type, ev.data);

  const past = await api(`/past?messages=none&limit=${PAST_LIMIT}`);
  state.pastCursor = past.headers.get("X-Jobdeck-Cursor") || state.pastCursor;
  for (const job of past.data) {
    seen.add(job.id);
    upsertJob(job, { messages: "last" });
  }
  // Only jobs held before this load can be gone: one that arrived by an event meanwhile is newer than both answers.
  for (const id of held) if (!seen.has(id)) removeJob(id);
  dirty.allPast = true;
  schedule();
  loadFailureReasons();
}

/** The newest error of each failed past job, for the reason shown on its line. */
async function loadFailureReasons() {
  try {
    const { data } = await api(`/past?statuses=failed&messages=last:1&limit=${PAST_LIMIT}`);
    for (const job of data) if (state.jobs.has(job.id)) upsertJob(job, { messages: "last" });
  } catch {
    /* reasons are a nicety: the lines show without them */
  }
}

export function applyEvent(type, payload) {
  if (!state.loaded) {
    state.queued.push({ type, data: payload });
    return;
  }
  const { jobId, data } = payload;
  switch (type) {
    case "created":
      upsertJob(data, { fromEvent: true });
      break;
    case "status":
      upsertJob(data, { fromEvent: true });
      refreshStatsSoon();
      break;
    case "progress":
      applyProgress(jobId, data);
      break;
    case "message":
      applyMessage(jobId, data);
      break;
    case "removed":
      removeJob(jobId);
      break;
    default:
      break;
  }
}

