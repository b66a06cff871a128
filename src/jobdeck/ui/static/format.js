/* Times, durations, numbers and estimates as the page shows them, in the viewer's language and time zone. */

import { lang, num, t } from "./i18n.js";

/** ISO 8601 -> milliseconds since the epoch (NaN when missing). */
export const ms = (iso) => (iso ? Date.parse(iso) : NaN);

const pad = (n) => String(n).padStart(2, "0");

/* English writes times the one way jobdeck's command line does: 24-hour, "14:03:20" for today and "2026-12-06
   20:41:07" for another day (unambiguous for every reader). Every other language writes them as its speakers do
   (Intl: "6.12.2026 klo 20.41.07" in Finnish), always 24-hour. Both in the viewer's time zone, named by ZONE. */
const intlClock = lang === "en" ? null
  : new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const intlDate = lang === "en" ? null : new Intl.DateTimeFormat(lang, {
  year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  hourCycle: "h23",
});
const clock = (d) => (intlClock ? intlClock.format(d)
  : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`);
const dateClock = (d) => (intlDate ? intlDate.format(d)
  : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`);

export const timeFmt = { format: clock };
export const dateTimeFmt = { format: dateClock };

/** The viewer's time zone as a short name ("UTC", "GMT+2"), said wherever times are listed. */
export const ZONE = (() => {
  try {
    const part = new Intl.DateTimeFormat(lang, { timeZoneName: "short" }).formatToParts(new Date())
      .find((p) => p.type === "timeZoneName");
    return part ? part.value : t("time.local_zone");
  } catch {
    return t("time.local_zone");
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
  const at = ms(iso);
  if (Number.isNaN(at)) return "–";
  const s = Math.round((now - at) / 1000);
  const a = Math.abs(s);
  if (a < 5) return t("time.just_now");
  const days = Math.floor(a / 86400);
  const words = a < 60 ? t("time.seconds", { n: a }) : a < 3600 ? t("time.minutes", { n: Math.floor(a / 60) })
    : a < 86400 ? t("time.hours", { n: Math.floor(a / 3600) }) : t("time.days", { count: days });
  return s >= 0 ? t("time.ago", { when: words }) : t("time.ahead", { when: words });
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
  if (seconds < 10) {
    return t("time.seconds", { n: num(seconds, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
  }
  const s = Math.round(seconds);
  if (s < 60) return t("time.seconds", { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("time.minutes_seconds", { m, s: pad(s % 60) });
  return t("time.hours_minutes", { h: Math.floor(m / 60), m: pad(m % 60) });
}

export function eta(job, now) {
  if (job.status !== "running") return "–";
  const p = job.progress || 0;
  const elapsed = (now - ms(job.startTime)) / 1000;
  // Progress allows an estimate once it has moved a little and the job has run for a moment.
  if (p < 0.02 || p >= 1 || elapsed < 2) return t("time.estimating");
  const left = (elapsed * (1 - p)) / p;
  if (left < 5) return t("time.few_seconds");
  return t("time.about", { duration: left < 10 ? t("time.seconds", { n: Math.round(left) }) : duration(left) });
}

export const shortId = (id) => String(id).slice(0, 8);
export const percent = (p) => Math.max(0, Math.min(100, Math.floor((p || 0) * 100)));

/** "fetch, 3 of 10": the operation under way and where it is among its siblings. */
export function operationText(op) {
  if (!op) return "–";
  return t("time.operation", { id: op.id, index: op.index, total: op.total });
}
