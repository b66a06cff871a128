/* Following /events from a page that shows a few jobs (a job's page, All jobs): one EventSource, each event's
JSON handed to the page, and word when the stream is up or down so that the page can poll meanwhile. The
browser reconnects by itself (resuming from the last event id); the dashboard has its own, fuller machinery in
stream.js. */

import { API } from "./api.js";
import { setLive } from "./header.js";
import { t } from "./i18n.js";

const TYPES = ["created", "progress", "message", "status", "removed"];

/** Call ``onEvent(type, {id, type, jobId, data})`` for every change; ``onEvent("reset")`` when events were lost
(reload everything). Returns a function that stops following. */
export function followEvents({ onEvent, onUp = () => {}, onDown = () => {} }) {
  if (typeof EventSource === "undefined") {
    setLive("reconnecting", t("live.polling"));
    onDown();
    return () => {};
  }
  const es = new EventSource(`${API}/events`, { withCredentials: true });
  let closed = false;
  setLive("connecting", t("live.connecting"));
  const up = () => {
    if (closed) return;
    setLive("live", t("live.live"));
    onUp();
  };
  es.addEventListener("hello", up);
  es.addEventListener("open", up);
  for (const type of TYPES) {
    es.addEventListener(type, (e) => {
      let payload;
      try {
        payload = JSON.parse(e.data);
      } catch {
        return;
      }
      if (!closed) onEvent(type, payload);
    });
  }
  es.addEventListener("reset", () => {
    if (!closed) onEvent("reset", null);
  });
  es.addEventListener("error", () => {
    if (closed) return;
    setLive("reconnecting", t("live.reconnecting"));
    onDown();
  });
  return () => {
    closed = true;
    es.close();
    setLive("idle", t("live.idle"));
  };
}
