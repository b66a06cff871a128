/* Times, durations and estimates as the page shows them, in the viewer's locale and time zone. */

/** ISO 8601 -> milliseconds since the epoch (NaN when missing). */
export const ms = (iso) => (iso ? Date.parse(iso) : NaN);

const pad = (n) => String(n).padStart(2, "0");
const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
const dateClock = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`;

/* The one way jobdeck writes a time, here and in the command line's output: 24-hour, in the viewer's own time
   zone, "14:03:20" for today and "2026-12-06 20:41:07" for another day, the zone named beside it (ZONE). */
export const timeFmt = { format: clock };
export const dateTimeFmt = { format: dateClock };

/** The viewer's time zone as a short name ("UTC", "GMT+2"), said wherever times are listed. */
export const ZONE = (() => {
  try {
    const part = new Intl.DateTimeFormat("en", { timeZoneName: "short" }).formatToParts(new Date())
      .find((p) => p.type === "timeZoneName");
    return part ? part.value : "local time";
  } catch {
    return "local time";
  }
})();

export function localTime(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return "–";
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? clock(d) : dateClock(d);
}

/** "2026-12-06 20:41:07 UTC": the absolute time with its zone. */
export const fullTime = (iso) => (Number.isNaN(ms(iso)) ? "" : `${dateClock(new Date(ms(iso)))} ${ZONE}`);

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 days ago" (and "in 5 min" for a time ahead). */
export function relativeTime(iso, now = Date.now()) {
  const t = ms(iso);
  if (Number.isNaN(t)) return "–";
  const s = Math.round((now - t) / 1000);
  const a = Math.abs(s);
  if (a < 5) return "just now";
  const words = a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min` : a < 86400 ? `${Math.floor(a / 3600)} h`
    : `${Math.floor(a / 86400)} day${Math.floor(a / 86400) === 1 ? "" : "s"}`;
  return s >= 0 ? `${words} ago` : `in ${words}`;
}

/** A <time> showing the relative time, the absolute one on hover and for screen readers; refreshRelative()
 * keeps the words current. */
export function timeElement(iso, now = Date.now()) {
  const el = document.createElement("time");
  if (Number.isNaN(ms(iso))) {
    el.textContent = "–";
    return el;
  }
  el.dateTime = iso;
  el.title = fullTime(iso);
  el.dataset.relative = "";
  const seen = document.createElement("span");
  seen.setAttribute("aria-hidden", "true");
  seen.textContent = relativeTime(iso, now);
  const said = document.createElement("span");
  said.className = "visually-hidden";
  said.textContent = fullTime(iso);
  el.append(seen, said);
  return el;
}

export function refreshRelative(root = document, now = Date.now()) {
  for (const el of root.querySelectorAll("time[data-relative]")) {
    const seen = el.firstElementChild;
    const words = relativeTime(el.dateTime, now);
    if (seen && seen.textContent !== words) seen.textContent = words;
  }
}

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function eta(job, now) {
  if (job.status !== "running") return "–";
  const p = job.progress || 0;
  const elapsed = (now - ms(job.startTime)) / 1000;
  // Progress allows an estimate once it has moved a little and the job has run for a moment.
  if (p < 0.02 || p >= 1 || elapsed < 2) return "Estimating…";
  const left = (elapsed * (1 - p)) / p;
  return left < 5 ? "a few seconds" : `about ${duration(left).replace(/^(\d+)\.\d s$/, "$1 s")}`;
}

export const shortId = (id) => String(id).slice(0, 8);
export const percent = (p) => Math.max(0, Math.min(100, Math.floor((p || 0) * 100)));

export function operationText(op) {
  if (!op) return "–";
  return `${op.id}, ${op.index} of ${op.total}`;
}
