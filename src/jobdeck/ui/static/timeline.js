/* The timeline: runs of every job type over the chosen range, one strip per type (oldest on the left), each run a
bar from its start to its end (or to now while it runs) and a link to its job. Outcomes differ by shape as well
as colour (timeline.css); each strip is a list of links whose names say type, outcome, start and duration, so
that the keyboard and a screen reader get what the eye gets. The range lives in the address (?range=24h). */

import { api } from "./api.js";
import { $, setText } from "./dom.js";
import { ZONE, duration, fullTime, localTime, ms, shortId, timeFmt } from "./format.js";
import { applyRole, jobHref, say, statusText } from "./common.js";
import { followEvents } from "./follow.js";
import { LOAD_CAP, bounds, inRange, pastRange } from "./listview.js";
import { lang, t } from "./i18n.js";

// The range as the summary says it ("in the last hour"): a catalog key per range.
const RANGES = { "1h": "timeline.in_1h", "24h": "timeline.in_24h", "7d": "timeline.in_7d" };
const ACTIVE = new Set(["queued", "running", "aborting"]);
const form = $("#timeline-filters");
const host = $("#timeline");
let range = "24h";
let titles = new Map();

function rangeFromUrl() {
  const value = new URL(window.location.href).searchParams.get("range");
  return RANGES[value] ? value : "24h";
}

async function loadRuns(b) {
  let jobs = [];
  let before = null;
  for (;;) {
    const query = new URLSearchParams({ limit: "200" });
    if (before) query.set("before", before);
    const { data } = await api(`/search?${query}`);
    jobs = jobs.concat(data.jobs);
    if (!data.next || pastRange(data.jobs, b) || jobs.length >= LOAD_CAP) break;
    before = data.next;
  }
  return jobs.filter((job) => inRange(job, b));
}

const pad = (n) => String(n).padStart(2, "0");
/* A day as the axis of the 7-day range labels it: "2026-12-06" in English (jobdeck's own format), "6.12." in
   Finnish (as its speakers write a date without the year). */
const dayFmt = lang === "en" ? null : new Intl.DateTimeFormat(lang, { day: "numeric", month: "numeric" });
const day = (d) => (dayFmt ? dayFmt.format(d) : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`);

/* The axis under the strips. A label is as short as the range allows, so that the three a phone shows do not
   run into each other: the time of day for a range of a day or less (oldest on the left, so the day is plain),
   the day for a week. */
function axis(from, to) {
  const label = to - from <= 86400000 ? (d) => timeFmt.format(d) : day;
  const row = document.createElement("div");
  row.className = "tl-axis";
  row.setAttribute("aria-hidden", "true");
  for (let i = 0; i <= 4; i += 1) {
    const tick = document.createElement("span");
    tick.className = "tl-tick";
    tick.style.left = `${i * 25}%`;
    tick.textContent = label(new Date(from + ((to - from) * i) / 4));
    row.appendChild(tick);
  }
  return row;
}

function bar(job, from, to, now) {
  const li = document.createElement("li");
  const start = Math.max(from, ms(job.startTime));
  const end = Math.min(to, job.endTime ? ms(job.endTime) : now);
  const link = document.createElement("a");
  link.href = jobHref(job.id);
  const state = ACTIVE.has(job.status) ? "active" : job.status;
  link.className = `tl-bar tl-${state}`;
  link.style.left = `min(${((start - from) / (to - from)) * 100}%, calc(100% - 6px))`;
  link.style.width = `max(6px, ${((end - start) / (to - from)) * 100}%)`;
  const took = duration(((job.endTime ? ms(job.endTime) : now) - ms(job.startTime)) / 1000);
  const values = { id: shortId(job.id), status: statusText(job.status), start: fullTime(job.startTime), took };
  link.setAttribute("aria-label", job.endTime ? t("timeline.bar_ended", values) : t("timeline.bar_running", values));
  link.title = `${shortId(job.id)} · ${statusText(job.status)} · ${localTime(job.startTime)} · ${took}`;
  li.appendChild(link);
  return li;
}

async function draw() {
  const now = Date.now();
  const b = bounds({ range }, now);
  const from = b.from;
  const to = now;
  try {
    const runs = await loadRuns(b);
    const byType = new Map();
    for (const job of runs.sort((x, y) => ms(x.startTime) - ms(y.startTime))) {
      if (!byType.has(job.jobType)) byType.set(job.jobType, []);
      byType.get(job.jobType).push(job);
    }
    const frag = document.createDocumentFragment();
    frag.appendChild(axis(from, to));
    const types = [...new Set([...titles.keys(), ...byType.keys()])];
    for (const type of types) {
      const jobs = byType.get(type) || [];
      const section = document.createElement("section");
      section.className = "tl-strip";
      const id = `tl-${type.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      section.setAttribute("aria-labelledby", id);
      const head = document.createElement("h2");
      head.className = "tl-title";
      head.id = id;
      head.textContent = `${titles.get(type) || type} `;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(jobs.length);
      count.setAttribute("aria-label", t("timeline.runs", { count: jobs.length }));
      head.appendChild(count);
      const list = document.createElement("ul");
      list.className = "tl-lane";
      list.setAttribute("aria-labelledby", id);
      for (const job of jobs) list.appendChild(bar(job, from, to, now));
      section.append(head, list);
      frag.appendChild(section);
    }
    host.textContent = "";
    host.appendChild(frag);
    const summary = t("timeline.summary", { count: runs.length, range: t(RANGES[range]), zone: ZONE });
    say($("#summary"), runs.length >= LOAD_CAP ? `${summary} ${t("timeline.capped", { cap: LOAD_CAP })}` : summary,
      "ok");
  } catch (err) {
    say($("#summary"), t("timeline.load_failed", { error: err.message }), "error");
  }
}

let soon = 0;
function drawSoon() {
  clearTimeout(soon);
  soon = setTimeout(draw, 1000);
}

form.elements.range.addEventListener("change", () => {
  range = form.elements.range.value;
  const url = new URL(window.location.href);
  url.searchParams.set("range", range);
  window.history.pushState(null, "", url);
  draw();
});
window.addEventListener("popstate", () => {
  range = rangeFromUrl();
  form.elements.range.value = range;
  draw();
});

async function start() {
  range = rangeFromUrl();
  form.elements.range.value = range;
  try {
    const { data } = await api("/types");
    titles = new Map(data.map((type) => [type.jobType, type.title || type.jobType]));
  } catch {
    titles = new Map();
  }
  await draw();
  // New runs and ended ones redraw the strips (at most once a second); the bars of running jobs grow with time.
  followEvents({ onEvent: (type) => (type === "progress" || type === "message" ? null : drawSoon()) });
  setInterval(() => {
    if (!document.hidden) drawSoon();
  }, 30000);
  document.body.dataset.ready = "true";
}

applyRole(api);
setText($("#summary"), t("timeline.loading"));
start();
