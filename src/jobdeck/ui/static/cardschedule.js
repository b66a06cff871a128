/* On each job type's card: when its schedule runs next ("Next scheduled run 03:00:00 (in 4 h) · nightly-import"),
or that it is paused, linked to the schedule's row on the Schedules page. A type with several schedules shows the
one that runs soonest and how many more there are; a type with none shows nothing.

Schedules change rarely and their next runs move with the clock, so the card reads GET /schedules every
REFRESH_MS rather than following events, and redraws the line when a card is (re)built. A server without
schedules (an older one) leaves the cards as they were. */

import { api } from "./api.js";
import { setText } from "./dom.js";
import { fullTime } from "./format.js";
import { t } from "./i18n.js";
import { nextRunText, scheduleHref, soonest } from "./schedinfo.js";

const REFRESH_MS = 30000;
let byType = new Map();   // jobType -> its schedules
let started = false;

function lineFor(card) {
  let line = card.querySelector(".type-schedule");
  if (!line) {
    line = document.createElement("p");
    line.className = "type-schedule";
    const what = document.createElement("span");
    what.className = "type-schedule-text";
    const link = document.createElement("a");
    const more = document.createElement("span");
    more.className = "type-schedule-more";
    line.append(what, " · ", link, more);
    const anchor = card.querySelector(".type-desc") || card.querySelector(".card-head");
    if (anchor) anchor.after(line);
    else card.prepend(line);
  }
  return line;
}

function paintCard(card, now) {
  const list = byType.get(card.dataset.jobType) || [];
  if (!list.length) {
    card.querySelector(".type-schedule")?.remove();
    return;
  }
  const s = soonest(list);
  const line = lineFor(card);
  line.dataset.scheduleId = s.id;
  line.dataset.paused = s.paused ? "true" : "false";
  const [text, link, more] = [line.children[0], line.children[1], line.children[2]];
  setText(text, s.paused ? t("card.schedule_paused") : t("card.next_run", { when: nextRunText(s, now) }));
  text.title = !s.paused && s.nextRuns && s.nextRuns[0] ? fullTime(s.nextRuns[0]) : "";
  const href = scheduleHref(s.id);
  if (link.getAttribute("href") !== href) link.setAttribute("href", href);
  setText(link, s.id);
  link.setAttribute("aria-label", t("card.schedule_link", { id: s.id }));
  setText(more, list.length > 1 ? ` ${t("card.schedules_more", { count: list.length - 1 })}` : "");
}

function paint() {
  const now = Date.now();
  for (const card of document.querySelectorAll("article.type-card[data-job-type]")) paintCard(card, now);
}

async function load() {
  try {
    const { data } = await api("/schedules");
    const list = Array.isArray(data) ? data : (data && data.schedules) || [];
    const next = new Map();
    for (const s of list) {
      if (!next.has(s.jobType)) next.set(s.jobType, []);
      next.get(s.jobType).push(s);
    }
    byType = next;
  } catch {
    return;   // no schedules to show (an older server, or one not reachable now): the cards stay as they are
  }
  paint();
}

/** Start showing schedules on the cards under ``grid`` (the dashboard's #types). */
export function showCardSchedules(grid) {
  if (started || !grid) return;
  started = true;
  // Cards are built once the types have loaded, and rebuilt when types come and go: draw on each.
  new MutationObserver(paint).observe(grid, { childList: true });
  load();
  setInterval(() => {
    if (!document.hidden) load();
  }, REFRESH_MS);
  setInterval(() => {
    if (document.hidden) return;
    // A next run that has passed has fired (or been skipped): read the new one rather than say "5 s ago".
    const now = Date.now();
    const passed = [...byType.values()].flat()
      .some((s) => !s.paused && s.nextRuns && s.nextRuns[0] && Date.parse(s.nextRuns[0]) < now - 2000);
    if (passed) load();
    else paint();
  }, 5000);
}
