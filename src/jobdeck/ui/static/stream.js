/* The live stream: EventSource on /events, and polling while it is down.

When the stream drops, the header says so and the page polls /active and /past (with the X-Jobdeck-Cursor
cursor) until the stream is back; EventSource resumes from Last-Event-ID, and a `reset` event reloads state.
*/

import { API, api } from "./api.js";
import { setLive } from "./header.js";
import { showError } from "./dom.js";
import { t } from "./i18n.js";
import {
  PAST_LIMIT, applyEvent, fetchJob, isActive, loadAll, logOf, refreshStatsSoon, state, touchJob, upsertJob,
} from "./state.js"; // i18n-ignore: a module path

const POLL_MS = 2000;

let source = null;
let pollTimer = 0;
let retryTimer = 0;
let retryDelay = 1000;
let everLive = false;

export const setConnection = setLive;

export function connect() {
  clearTimeout(retryTimer);
  if (state.authLost) return;
  const resume = state.lastEventId ? `?lastEventId=${encodeURIComponent(state.lastEventId)}` : "";
  const url = `${API}/events${resume}`;
  const es = new EventSource(url, { withCredentials: true });
  source = es;
  const live = () => {
    if (source !== es) return;
    setConnection("live", t("live.live"));
    retryDelay = 1000;
    stopPolling();
    // After an outage, one poll closes any gap the event replay cannot (for example a restarted server).
    if (everLive) poll();
    everLive = true;
  };
  es.addEventListener("hello", (e) => {
    if (e.lastEventId) state.lastEventId = e.lastEventId;
    live();
  });
  es.addEventListener("open", live);
  for (const type of ["created", "progress", "message", "status", "removed"]) {
    es.addEventListener(type, (e) => {
      if (e.lastEventId) state.lastEventId = e.lastEventId;
      let payload;
      try {
        payload = JSON.parse(e.data);
      } catch {
        return;
      }
      applyEvent(type, payload);
    });
  }
  es.addEventListener("reset", (e) => {
    if (e.lastEventId) state.lastEventId = e.lastEventId;
    loadAll().catch(showError);
  });
  es.addEventListener("error", () => {
    if (source !== es || state.authLost) return;
    setConnection("reconnecting", t("live.reconnecting"));
    startPolling();
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error, not a dropped connection): find out why, then retry ourselves.
      source = null;
      api("/stats").then(() => scheduleReconnect(), (err) => {
        if (!state.authLost) scheduleReconnect(err);
      });
    }
  });
}

function scheduleReconnect() {
  if (state.authLost) return;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 8000);   // polling covers the gap meanwhile
}

function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = 0;
}

let polling = false;
async function poll() {
  if (polling || state.authLost || !state.loaded) return;
  polling = true;
  try {
    const since = state.pastCursor ? `&startFrom=${encodeURIComponent(state.pastCursor)}` : "";
    const [active, past] = await Promise.all([
      api("/active?messages=none"),
      api(`/past?messages=last:1&limit=${PAST_LIMIT}${since}`),
    ]);
    state.pastCursor = past.headers.get("X-Jobdeck-Cursor") || state.pastCursor;
    const seen = new Set();
    for (const job of past.data) {
      seen.add(job.id);
      upsertJob(job, { messages: "last" });
    }
    for (const job of active.data) {
      seen.add(job.id);
      upsertJob(job);
    }
    const gone = [...state.jobs.values()].filter((j) => isActive(j) && !seen.has(j.id)).map((j) => j.id);
    await Promise.all([...gone.map(fetchJob), ...active.data.map((j) => catchUpMessages(j.id))]);
    refreshStatsSoon();
  } catch {
    /* still offline: the indicator already says so */
  } finally {
    polling = false;
  }
}

async function catchUpMessages(id) {
  const log = logOf(id);
  const newest = [log.newest("problems"), log.newest("info")].filter(Boolean).sort((a, b) => b.t - a.t)[0];
  let since = newest ? newest.iso : null;
  for (let page = 0; page < 10; page++) {
    const q = since ? `?since=${encodeURIComponent(since)}&limit=1000` : "?limit=1000";
    const { data } = await api(`/single/${encodeURIComponent(id)}/messages${q}`);
    let added = false;
    for (const m of data.messages || []) added = log.add(m) || added;
    if (added) touchJob(id);
    if (!data.next || data.next === since) break;
    since = data.next;
  }
}

/** Stop everything live (signed out): no stream, no polling, no reconnect. */
export function stopLive() {
  if (source) source.close();
  source = null;
  stopPolling();
  clearTimeout(retryTimer);
}
