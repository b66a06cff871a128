/* All jobs' time range and sort: read from and written to the address (so that a reload or a shared link shows
the same view), applied to the rows loaded, and shown in the table's headers.

The store lists jobs active first, then newest ended first, in pages. A range "ran during [from, to]" is a job
that started by `to` and had not ended before `from`; in the store's order every job after the first one that
ended before `from` is out of range too, so loading stops there. Any other sort than the store's own is applied
to every job in the range (up to LOAD_CAP, said when reached). */

import { ms } from "./format.js";
import { t } from "./i18n.js";

/** The time ranges the filter offers (their names are the page's options, jobs.range.*). */
export const RANGES = ["", "1h", "24h", "7d", "custom"];
const SPAN = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const RANGE_WORDS = { "1h": "jobs.in_range.1h", "24h": "jobs.in_range.24h", "7d": "jobs.in_range.7d" };
export const SORTS = { type: "type", status: "status", start: "start", end: "end", duration: "duration" };
const SORT_WORDS = {
  type: ["jobs.sorted.type.asc", "jobs.sorted.type.desc"],
  status: ["jobs.sorted.status.asc", "jobs.sorted.status.desc"],
  start: ["jobs.sorted.start.asc", "jobs.sorted.start.desc"],
  end: ["jobs.sorted.end.asc", "jobs.sorted.end.desc"],
  duration: ["jobs.sorted.duration.asc", "jobs.sorted.duration.desc"],
};
const STATUS_ORDER = ["running", "aborting", "queued", "failed", "aborted", "completed"];
export const LOAD_CAP = 2000;

/** {range, from, to, sort, dir} from the address; unknown values fall back to the defaults. */
export function viewFromUrl(href = window.location.href) {
  const p = new URL(href).searchParams;
  const range = RANGES.includes(p.get("range")) ? p.get("range") : "";
  const sort = SORTS[p.get("sort")] || "end";
  const dir = p.get("dir") === "asc" ? "asc" : "desc";
  return { range, from: range === "custom" ? p.get("from") || "" : "", to: range === "custom" ? p.get("to") || "" : "",
    sort, dir };
}

/** Put the view into `url`'s parameters (the defaults left out, so that a plain /jobs stays plain). */
export function writeView(url, view) {
  for (const key of ["range", "from", "to", "sort", "dir"]) url.searchParams.delete(key);
  if (view.range) url.searchParams.set("range", view.range);
  if (view.range === "custom") {
    if (view.from) url.searchParams.set("from", view.from);
    if (view.to) url.searchParams.set("to", view.to);
  }
  if (view.sort !== "end" || view.dir !== "desc") {
    url.searchParams.set("sort", view.sort);
    url.searchParams.set("dir", view.dir);
  }
}

/** The store's own order and no range: the table can page with the store's cursor. */
export const isPlain = (view) => !view.range && view.sort === "end" && view.dir === "desc";

/** {from, to} in ms since the epoch (null: open). */
export function bounds(view, now = Date.now()) {
  if (SPAN[view.range]) return { from: now - SPAN[view.range], to: null };
  if (view.range === "custom") {
    const from = view.from ? Date.parse(view.from) : NaN;
    const to = view.to ? Date.parse(view.to) : NaN;
    return { from: Number.isNaN(from) ? null : from, to: Number.isNaN(to) ? null : to };
  }
  return { from: null, to: null };
}

/** Whether the job ran during the range: started by its end, not ended before its start. */
export function inRange(job, b) {
  const start = ms(job.startTime);
  const end = job.endTime ? ms(job.endTime) : Infinity;
  return (b.to === null || start <= b.to) && (b.from === null || end >= b.from);
}

/** Whether nothing past this page can be in range (the store lists newest ended first). */
export function pastRange(jobs, b) {
  const ended = jobs.filter((j) => j.endTime);
  const last = ended[ended.length - 1];
  return b.from !== null && last !== undefined && ms(last.endTime) < b.from;
}

function key(job, sort, titles, now) {
  if (sort === "type") return (titles.get(job.jobType) || job.jobType).toLowerCase();
  if (sort === "status") return STATUS_ORDER.indexOf(job.status);
  if (sort === "start") return ms(job.startTime);
  if (sort === "end") return job.endTime ? ms(job.endTime) : Infinity;   // active jobs have not ended: last of all
  return (job.endTime ? ms(job.endTime) : now) - ms(job.startTime);
}

/** A comparator for the view's sort (ties: newest started first, then id). */
export function comparator(view, titles, now = Date.now()) {
  const sign = view.dir === "asc" ? 1 : -1;
  return (a, b) => {
    const ka = key(a, view.sort, titles, now);
    const kb = key(b, view.sort, titles, now);
    if (ka < kb) return -sign;
    if (ka > kb) return sign;
    return ms(b.startTime) - ms(a.startTime) || (a.id < b.id ? -1 : 1);
  };
}

/** "in the last 24 hours", "that ran from 2026-12-06 10:00 until 2026-12-07 10:00", or "". */
export function rangeWords(view) {
  if (RANGE_WORDS[view.range]) return t(RANGE_WORDS[view.range]);
  if (view.range !== "custom") return "";
  const from = view.from.replace("T", " ");
  const to = view.to.replace("T", " ");
  if (from && to) return t("jobs.ran.between", { from, to });
  if (from) return t("jobs.ran.from", { from });
  if (to) return t("jobs.ran.until", { to });
  return t("jobs.ran.any");
}

export const sortWords = (view) => t(SORT_WORDS[view.sort][view.dir === "asc" ? 0 : 1]);

/** Mark the sorted column's header (aria-sort and the arrow); the buttons call `onSort(sort)`. */
export function showSort(table, view) {
  for (const th of table.querySelectorAll("th[data-sort]")) {
    const on = th.dataset.sort === view.sort;
    if (on) th.setAttribute("aria-sort", view.dir === "asc" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
    const arrow = th.querySelector(".sort-arrow");
    if (arrow) arrow.textContent = on ? (view.dir === "asc" ? "▲" : "▼") : "↕";
  }
}

/** The view after a click on a column's sort button: the same column flips, another starts newest/largest first
 * (type: A to Z). */
export function nextSort(view, sort) {
  if (view.sort === sort) return { ...view, dir: view.dir === "asc" ? "desc" : "asc" };
  return { ...view, sort, dir: sort === "type" || sort === "status" ? "asc" : "desc" };
}
