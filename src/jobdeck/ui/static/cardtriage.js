/* On each type's card: the newest run's failure, in words, until the next run starts; and the last 20 runs as
a small chart: one bar per run, oldest on the left, its height the run's duration (the axis says the longest),
its outcome told by colour and shape (completed solid, failed solid with a cross on top, aborted hollow and
dashed), each bar a link to its job that Tab reaches; the caption is the chart's summary in words. */

import { api } from "./api.js";
import { setText } from "./dom.js";
import { state, touchType } from "./state.js";
import { duration, localTime, ms, shortId } from "./format.js";
import { firstLine, jobHref, statusText } from "./common.js";
import { num, t } from "./i18n.js";
import { resumeJob, resumeLabel } from "./retry.js";

export const CHART_RUNS = 20;
const SVG = "http://www.w3.org/2000/svg";
const W = 200;
const H = 40;

function ensure(view) {
  if (view.failure) return;
  view.failure = document.createElement("div");
  view.failure.className = "last-failure";
  view.failure.hidden = true;
  view.chart = document.createElement("figure");
  view.chart.className = "run-chart";
  view.chart.style.margin = "0";
  view.chart.hidden = true;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  // A group of links (the bars), named by the summary under it.
  svg.setAttribute("role", "group");
  const summaryId = `runs-${view.type}`;
  svg.setAttribute("aria-labelledby", summaryId);
  const top = document.createElement("span");
  top.className = "run-axis run-axis-top";
  top.setAttribute("aria-hidden", "true");
  const plot = document.createElement("div");
  plot.className = "run-plot";
  plot.append(top, svg);
  const time = document.createElement("div");
  time.className = "run-axis run-axis-time";
  time.setAttribute("aria-hidden", "true");
  const older = document.createElement("span");
  older.textContent = t("card.older");
  const newer = document.createElement("span");
  newer.textContent = t("card.newer");
  time.append(older, newer);
  const caption = document.createElement("figcaption");
  caption.className = "run-summary";
  caption.id = summaryId;
  view.chart.append(plot, time, caption);
  view.chartSvg = svg;
  view.chartTop = top;
  view.chartText = caption;
  view.desc.after(view.failure, view.chart);
}

export function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** "Last 20 runs, oldest first in the chart: 17 completed, 2 failed, 1 aborted. Success rate 89% (completed out
 * of the 19 that completed or failed; an abort is an operator's choice, not counted). Median duration 12 s." */
export function runsText(runs) {
  const count = (s) => runs.filter((j) => j.status === s).length;
  const parts = [["card.runs_completed", count("completed")], ["card.runs_failed", count("failed")],
    ["card.runs_aborted", count("aborted")]].filter(([, n]) => n > 0).map(([key, n]) => t(key, { count: n }));
  const decided = count("completed") + count("failed");
  const rate = decided
    ? t("card.success_rate", { rate: num(Math.round((100 * count("completed")) / decided) / 100, { style: "percent" }),
      decided })
    : t("card.no_success_rate");
  const mid = median(runs.map((j) => (ms(j.endTime) - ms(j.startTime)) / 1000));
  return t("card.runs_summary", { count: runs.length, parts: parts.join(", "), rate, median: duration(mid) });
}

function renderChart(view, past) {
  const runs = past.filter((j) => j.endTime)
    .sort((a, b) => ms(a.startTime) - ms(b.startTime)).slice(-CHART_RUNS);
  view.chart.hidden = runs.length === 0;
  if (!runs.length) return;
  const key = runs.map((j) => `${j.id}:${j.status}`).join(",");
  if (view.chartKey === key) return;
  view.chartKey = key;
  const secs = runs.map((j) => Math.max(0, (ms(j.endTime) - ms(j.startTime)) / 1000));
  const top = Math.max(...secs, 0.001);   // the axis: the longest run is the full height
  const slot = W / CHART_RUNS;
  const svg = view.chartSvg;
  svg.textContent = "";
  const base = document.createElementNS(SVG, "line");
  base.setAttribute("class", "baseline");
  base.setAttribute("x1", "0");
  base.setAttribute("x2", String(W));
  base.setAttribute("y1", String(H - 0.5));
  base.setAttribute("y2", String(H - 0.5));
  svg.appendChild(base);
  setText(view.chartTop, `${duration(top)}`);
  runs.forEach((job, i) => {
    const h = Math.max(2, (secs[i] / top) * (H - 4));
    const link = document.createElementNS(SVG, "a");
    link.setAttribute("href", jobHref(job.id));
    link.setAttribute("class", "bar-link");
    const said = { id: shortId(job.id), status: statusText(job.status), duration: duration(secs[i]) };
    link.setAttribute("aria-label", t("card.bar_label", { ...said, time: localTime(job.endTime) }));
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("class", `bar bar-${job.status}`); // i18n-ignore: classes
    rect.setAttribute("x", String(i * slot + slot * 0.15));
    rect.setAttribute("width", String(slot * 0.7));
    rect.setAttribute("y", String(H - h));
    rect.setAttribute("height", String(h));
    rect.dataset.jobId = job.id;
    const title = document.createElementNS(SVG, "title");
    title.textContent = t("card.bar_title", said);
    link.append(title, rect);
    if (job.status === "failed") {
      // A cross above the bar: failure is told by shape as well as by colour.
      const mark = document.createElementNS(SVG, "path");
      const cx = i * slot + slot / 2;
      const cy = Math.max(2, H - h - 3);
      mark.setAttribute("d", `M${cx - 2} ${cy - 2}L${cx + 2} ${cy + 2}M${cx + 2} ${cy - 2}L${cx - 2} ${cy + 2}`);
      mark.setAttribute("class", "bar-mark");
      link.appendChild(mark);
    }
    svg.appendChild(link);
  });
  setText(view.chartText, runsText(runs));
}

const asked = new Set();        // failed jobs whose single view was fetched for the card
const resumable = new Map();    // failed job id -> the Resume button's label (null: nothing to resume)

/** List views carry neither messages nor what a job saved: fetch the single view of a card's newest failed job
 * once (its newest error, its operation tree, its savedKeys), then draw the card again. */
function fetchSingle(view, job) {
  if (asked.has(job.id)) return;
  asked.add(job.id);
  api(`/single/${encodeURIComponent(job.id)}/progress?messages=last:1`).then(({ data }) => {
    const errors = data.errorMessages || [];
    const held = state.jobs.get(job.id);
    resumable.set(job.id, resumeLabel(data));
    if (held && errors.length && !held.lastError) held.lastError = errors[errors.length - 1].message;
    touchType(view.type);
  }, () => {});
}

function renderFailure(view, active, past) {
  const newest = past.reduce((a, b) => (!a || ms(b.startTime) > ms(a.startTime) ? b : a), null);
  const show = active.length === 0 && newest && (newest.status === "failed" || newest.status === "aborted");
  view.failure.hidden = !show;
  if (!show) {
    view.failureKey = null;
    return;
  }
  const failed = newest.status === "failed";
  if (failed) fetchSingle(view, newest);
  // Resume is offered where the new job would take something over, and where the type is still registered.
  const label = failed && state.types.has(view.type) ? resumable.get(newest.id) || null : null;
  const key = `${newest.id}:${newest.status}:${newest.lastError}:${newest.abortReason}:${label}`;
  if (view.failureKey === key) return;
  view.failureKey = key;
  view.failure.dataset.status = newest.status;
  view.failure.textContent = "";
  const head = document.createElement("strong");
  head.textContent = t(failed ? "card.last_failed" : "card.last_aborted", { time: localTime(newest.endTime) });
  const line = document.createElement("span");
  line.className = "failure-line";
  line.textContent = failed
    ? firstLine(newest.lastError) || t("card.no_error")
    : newest.abortReason ? t("card.reason", { reason: newest.abortReason }) : t("card.no_reason");
  const link = document.createElement("a");
  link.href = jobHref(newest.id);
  link.textContent = t("card.open_job", { id: shortId(newest.id) });
  view.failure.append(head, line, link);
  if (label) {
    const row = document.createElement("div");
    row.className = "failure-actions";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-small btn-primary resume-btn";
    button.textContent = label;
    const note = document.createElement("p");
    note.className = "inline-note resume-note";
    note.id = `resume-note-${view.type}`;
    note.setAttribute("role", "status");   // a live region before its first words, so that they are read
    note.hidden = true;
    button.setAttribute("aria-describedby", note.id);
    const job = newest;
    button.addEventListener("click", () => resumeJob(job, note, button));
    row.append(button, note);
    view.failure.appendChild(row);
  }
}

export function renderCardTriage(view, active, past) {
  ensure(view);
  renderFailure(view, active, past);
  renderChart(view, past);
}

