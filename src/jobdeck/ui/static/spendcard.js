/* On the dashboard, each type card says what its jobs spent today and this month (GET /spend), refreshed every
15 s and when a job ends; and a type with recorded cost gets a "Cost per day" button that opens its history as a
small chart beside the run chart: the last 14 days (UTC; 30 at a press), each day's known cost as a bar over its count of jobs
as a thinner bar, oldest on the left (GET /spend/daily), with a caption that says the same in words. Kept apart
from the card's own rendering: it adds a line and a button under the description. */

import { api } from "./api.js";
import { t } from "./i18n.js";
import { formatCost } from "./spend.js";

const REFRESH_MS = 15_000;
const SPANS = [14, 30];   // the days a history can show; the first is the default
const SVG = "http://www.w3.org/2000/svg";
const W = 200;
const COST_H = 30;
const COUNT_H = 10;
let timer = 0;

function lineOf(card) {
  let line = card.querySelector(".type-spend");
  if (!line) {
    line = document.createElement("p");
    line.className = "type-spend";
    const desc = card.querySelector(".type-desc");
    if (desc) desc.after(line);
    else card.appendChild(line);
  }
  return line;
}

export async function refreshSpend() {
  clearTimeout(timer);
  try {
    const { data } = await api("/spend");
    const byType = new Map(data.map((t) => [t.jobType, t]));
    for (const card of document.querySelectorAll("article.type-card[data-job-type]")) {
      const spent = byType.get(card.dataset.jobType);
      const line = card.querySelector(".type-spend");
      if (!spent) {
        if (line) line.remove();
        if (card.costHistory) {
          card.costHistory.button.remove();
          card.costHistory.figure.remove();
          card.costHistory = null;
        }
        continue;
      }
      lineOf(card).textContent = t("card.spent", { today: formatCost(spent.today), month: formatCost(spent.month) });
      const history = historyOf(card);
      if (!history.figure.hidden) drawHistory(card, history);
    }
  } catch {
    /* a server without /spend, or one away for a moment: the cards say nothing about spending */
  }
  timer = setTimeout(refreshSpend, REFRESH_MS);
}

/** The card's "Cost per day" button and its (hidden until asked) chart, made once, after the spend line. */
function historyOf(card) {
  let history = card.costHistory;
  if (history) return history;
  const type = card.dataset.jobType;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-small cost-history-btn";
  button.textContent = t("card.cost_per_day");
  button.setAttribute("aria-expanded", "false");
  const figure = document.createElement("figure");
  figure.className = "cost-history";
  figure.id = `cost-history-${type}`;
  figure.hidden = true;
  button.setAttribute("aria-controls", figure.id);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${COST_H + COUNT_H + 2}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const caption = document.createElement("figcaption");
  caption.className = "cost-history-summary";
  caption.id = `cost-history-summary-${type}`;
  svg.setAttribute("aria-labelledby", caption.id);
  const time = document.createElement("div");
  time.className = "run-axis run-axis-time";
  time.setAttribute("aria-hidden", "true");
  const span = document.createElement("div");
  span.className = "cost-history-span";
  span.setAttribute("role", "group");
  span.setAttribute("aria-label", t("card.days_shown"));
  history = { button, figure, svg, caption, time, days: SPANS[0], spans: [] };
  for (const days of SPANS) {
    const choice = document.createElement("button");
    choice.type = "button";
    choice.className = "btn btn-small";
    choice.textContent = t("card.days", { count: days });
    choice.setAttribute("aria-pressed", String(days === history.days));
    choice.addEventListener("click", () => {
      history.days = days;
      for (const other of history.spans) other.setAttribute("aria-pressed", String(other === choice));
      drawHistory(card, history);
    });
    history.spans.push(choice);
    span.appendChild(choice);
  }
  figure.append(span, svg, time, caption);
  card.costHistory = history;
  button.addEventListener("click", () => {
    const open = figure.hidden;
    figure.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) drawHistory(card, history);
  });
  lineOf(card).after(button, figure);
  return history;
}

/** "Cost per day, last 14 days (UTC): $0.31 on 1 day, 2 jobs; most on 2026-12-07: $0.31 (2 jobs)." */
export function historyText(days) {
  const spent = days.filter((d) => d.cost > 0);
  const jobs = days.reduce((n, d) => n + d.jobs, 0);
  const total = days.reduce((n, d) => n + d.cost, 0);
  const head = t("card.cost_head", {
    days: days.length, total: formatCost(total), spentDays: t("card.cost_days", { count: spent.length }),
    jobsEnded: t("card.cost_jobs_ended", { count: jobs }),
  });
  if (!spent.length) return `${head}.`;
  const most = spent.reduce((a, b) => (b.cost > a.cost ? b : a));
  return t("card.cost_most", {
    head, day: most.day, cost: formatCost(most.cost), jobs: t("card.cost_jobs", { count: most.jobs }),
  });
}

async function drawHistory(card, history) {
  let data;
  try {
    ({ data } = await api(`/spend/daily?jobType=${encodeURIComponent(card.dataset.jobType)}&days=${history.days}`));
  } catch {
    history.caption.textContent = t("card.cost_failed");
    return;
  }
  const days = data.days;
  const ago = document.createElement("span");
  ago.textContent = t("card.days_ago", { days: days.length });
  const today = document.createElement("span");
  today.textContent = t("card.today");
  history.time.replaceChildren(ago, today);
  const topCost = Math.max(...days.map((d) => d.cost), 1e-9);
  const topJobs = Math.max(...days.map((d) => d.jobs), 1);
  const slot = W / days.length;
  const svg = history.svg;
  svg.textContent = "";
  days.forEach((d, i) => {
    const x = String(i * slot + slot * 0.15);
    const width = String(slot * 0.7);
    const cost = document.createElementNS(SVG, "rect");
    const h = d.cost > 0 ? Math.max(1, (d.cost / topCost) * COST_H) : 0;
    cost.setAttribute("class", "cost-bar");
    cost.setAttribute("x", x);
    cost.setAttribute("width", width);
    cost.setAttribute("y", String(COST_H - h));
    cost.setAttribute("height", String(h));
    cost.dataset.day = d.day;
    cost.dataset.cost = String(d.cost);
    const title = document.createElementNS(SVG, "title");
    const jobs = t("card.cost_jobs", { count: d.jobs });
    title.textContent = t("card.cost_day", { day: d.day, cost: formatCost(d.cost), jobs });
    cost.appendChild(title);
    const count = document.createElementNS(SVG, "rect");
    const c = d.jobs > 0 ? Math.max(1, (d.jobs / topJobs) * COUNT_H) : 0;
    count.setAttribute("class", "count-bar");
    count.setAttribute("x", x);
    count.setAttribute("width", width);
    count.setAttribute("y", String(COST_H + 2 + COUNT_H - c));
    count.setAttribute("height", String(c));
    svg.append(cost, count);
  });
  history.caption.textContent = historyText(days);
  history.figure.dataset.loaded = "true";
}

function whenReady() {
  const types = document.getElementById("types");
  if (types && types.getAttribute("aria-busy") === "false") {
    refreshSpend();
    return;
  }
  setTimeout(whenReady, 200);
}

whenReady();
