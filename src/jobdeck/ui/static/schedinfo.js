/* What the Schedules page and the dashboard's cards say about a schedule: its cadence in words, when it runs
next (a time and "in 4 h"), and the address of its row on the Schedules page. */

import { localTime, ms } from "./format.js";
import { t } from "./i18n.js";

/** The Schedules page's address, relative to the page's <base> (the server's root). */
export const schedulesHref = "schedules";

/** The schedule's row on the Schedules page. */
export const scheduleHref = (id) => `${schedulesHref}#${encodeURIComponent(`schedule-${id}`)}`;

/** All jobs filtered to the jobs a schedule started. */
export const scheduleJobsHref = (id) => `jobs?schedule=${encodeURIComponent(id)}`;

/** A number of seconds as the shortest plain words: "90 s", "15 min", "2 h", "1 day", "1 h 30 min". */
export function spanWords(seconds) {
  const s = Math.round(Number(seconds));
  if (!Number.isFinite(s) || s <= 0) return "–";
  if (s < 120 && s % 60 !== 0) return t("time.seconds", { n: s });
  const minutes = Math.round(s / 60);
  if (minutes < 60) return t("time.minutes", { n: minutes });
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 48 || rest) return rest ? t("time.hours_minutes", { h: hours, m: rest }) : t("time.hours", { n: hours });
  const days = Math.floor(hours / 24);
  return hours % 24 ? t("schedules.days_hours", { d: days, h: hours % 24 }) : t("time.days", { count: days });
}

/** How often the schedule fires: "every 15 min" or "cron 0 3 * * * (Europe/Helsinki)". */
export function cadence(schedule) {
  if (schedule.cron) {
    return schedule.timezone ? t("schedules.cadence_cron_zone", { cron: schedule.cron, zone: schedule.timezone })
      : t("schedules.cadence_cron", { cron: schedule.cron });
  }
  if (schedule.every !== undefined && schedule.every !== null) {
    // Whole days get a message of their own: Finnish says "2 päivän välein", not the "2 päivää" of a span.
    const days = Number(schedule.every) / 86400;
    if (Number.isInteger(days) && days >= 2) return t("schedules.cadence_every_days", { count: days });
    return t("schedules.cadence_every", { span: spanWords(schedule.every) });
  }
  return "–";
}

/** How far ``iso`` is from ``now``, as a person says it: "in 4 h", "in 12 min", "in 30 s", "5 min ago", "now". */
export function relative(iso, now = Date.now()) {
  const at = ms(iso);
  if (Number.isNaN(at)) return "";
  const diff = (at - now) / 1000;
  const size = Math.abs(diff);
  if (size < 1) return t("schedules.now");
  let words;
  if (size < 60) words = t("time.seconds", { n: Math.round(size) });
  else if (size < 3600) words = t("time.minutes", { n: Math.round(size / 60) });
  else if (size < 48 * 3600) words = t("time.hours", { n: Math.round(size / 3600) });
  else words = t("time.days", { count: Math.round(size / 86400) });
  return diff > 0 ? t("time.ahead", { when: words }) : t("time.ago", { when: words });
}

/** The next run as "03:00:00 (in 4 h)", or what stands in for it. */
export function nextRunText(schedule, now = Date.now()) {
  if (schedule.paused) return t("schedules.paused");
  const next = (schedule.nextRuns || [])[0];
  if (!next) return t("schedules.no_further_runs");
  return `${localTime(next)} (${relative(next, now)})`;
}

/** The schedule that runs soonest of ``schedules`` (paused ones last); null for none. */
export function soonest(schedules) {
  let best = null;
  for (const s of schedules) {
    const next = s.paused ? Infinity : ms((s.nextRuns || [])[0]) || Infinity;
    if (!best || next < best.next) best = { schedule: s, next };
  }
  return best ? best.schedule : null;
}

/** A link to a schedule's row on the Schedules page, its id as the text. */
export function scheduleLink(id) {
  const a = document.createElement("a");
  a.href = scheduleHref(id);
  a.className = "schedule-link";
  a.textContent = id;
  a.setAttribute("aria-label", t("schedules.link", { id }));
  return a;
}

/** In All jobs: "schedule nightly-import" under the author of a job a schedule started, linked to All jobs
filtered to that schedule's jobs. */
export function addScheduleTag(td, job) {
  if (!job.scheduleId) return;
  const small = document.createElement("span");
  small.className = "schedule-tag";
  const a = document.createElement("a");
  a.href = scheduleJobsHref(job.scheduleId);
  a.textContent = job.scheduleId;
  a.title = t("schedules.tag_title", { id: job.scheduleId });
  a.setAttribute("aria-label", t("schedules.tag_label", { id: job.scheduleId }));
  small.append(`${t("schedules.tag")} `, a);
  td.append(small);
}

/** Fill All jobs' schedule filter from GET /schedules (``wanted`` stays an option even when unknown); the field
is hidden while there is no schedule to choose. */
export async function fillScheduleFilter(select, wanted, api) {
  if (!select) return;
  let ids = [];
  try {
    const { data } = await api("/schedules");
    const list = Array.isArray(data) ? data : (data && data.schedules) || [];
    ids = list.map((s) => s.id).sort();
  } catch {
    /* an older server without schedules: the field stays hidden unless the address names one */
  }
  if (wanted && !ids.includes(wanted)) ids.push(wanted);
  for (const id of ids) {
    const option = document.createElement("option");
    option.value = option.textContent = id;
    select.appendChild(option);
  }
  const field = select.closest(".field");
  if (field) field.hidden = ids.length === 0;
}

/** Whether a queued job waits for its start time (a one-off start with ``runAt``, or a schedule's occurrence) and
has not run yet: it is due later, not retrying. */
export function waitingToStart(job) {
  const attempt = Number.isInteger(job.attempt) && job.attempt > 0 ? job.attempt : 1;
  return job.status === "queued" && Boolean(job.runAt) && attempt <= 1 && (!job.retryAt || job.retryAt === job.runAt);
}

/** "starts 02:00:00 (in 4 h)" for a job due later; "" for any other. */
export function startsText(job, now = Date.now()) {
  if (!waitingToStart(job)) return "";
  return ms(job.runAt) > now ? t("schedules.starts", { time: localTime(job.runAt), relative: relative(job.runAt, now) })
    : t("schedules.starting_now");
}
