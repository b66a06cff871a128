/* The views: one card per job type with its active jobs and past jobs, patched per change, once per frame. */

import { $, setText, showError } from "./dom.js";
import { duration, eta, fullTime, localTime, ms, operationText, percent, shortId } from "./format.js";
import { createPanels, panelTotal, renderPanels } from "./panels.js";
import { buildParamInputs } from "./params.js";
import { api } from "./api.js";
import { renderCardTriage } from "./cardtriage.js";
import { badge, jobLink } from "./common.js";
import { num, t } from "./i18n.js";
import { announce, attemptNews, createAttemptLine, patchAttemptLine, tickAttemptLine } from "./retry.js";
import { relative, waitingToStart } from "./schedinfo.js";
import { OPEN_MESSAGES, dirty, isActive, logOf, markComplete, schedule, state, touchType } from "./state.js";

export const PAST_PAGE = 50;   // past jobs rendered per type before "show more"

/** What the buttons do; the app fills these in (views only draw). */
export const handlers = { start: () => {}, abort: () => {} };

export const typeViews = new Map();   // jobType -> view

// The past-jobs filter's words: the list's label and what it says when nothing matches.
const PAST_LABEL = { completed: "card.past_completed", failed: "card.past_failed", aborted: "card.past_aborted" };
const PAST_NONE = { completed: "card.none_completed", failed: "card.none_failed", aborted: "card.none_aborted" };

export function typeInfo(type) {
  return state.types.get(type) || {
    jobType: type, title: type, description: t("card.unregistered"),
    maxConcurrent: 0, params: null, unregistered: true,
  };
}

function buildTypeCards() {
  const grid = $("#types");
  const wanted = new Set(state.types.keys());
  for (const job of state.jobs.values()) wanted.add(job.jobType);
  for (const [type, view] of typeViews) {
    if (!wanted.has(type)) {
      view.root.remove();
      typeViews.delete(type);
    }
  }
  for (const type of wanted) {
    let view = typeViews.get(type);
    if (!view) {
      view = createTypeView(type);
      typeViews.set(type, view);
    } else {
      updateTypeHeader(view);
    }
    grid.appendChild(view.root);   // keeps the server's order
    dirty.types.add(type);
  }
  $("#types-loading")?.remove();
  grid.setAttribute("aria-busy", "false");
  if (!wanted.size) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = t("dash.no_types");
    grid.appendChild(p);
  }
}

function createTypeView(type) {
  const root = $("#tpl-type").content.firstElementChild.cloneNode(true);
  const view = {
    type, root,
    title: $(".type-title", root), name: $(".type-name", root), limit: $(".type-limit", root),
    desc: $(".type-desc", root), form: $(".start-form", root), params: $(".params", root),
    start: $(".start-btn", root), note: $(".start-note", root),
    activeList: $(".active-list", root), activeViews: new Map(),
    past: $(".past", root), pastCount: $(".past-count", root), pastList: $(".past-list", root),
    pastEmpty: $(".past-empty", root), pastMore: $(".past-more", root), pastViews: new Map(),
    pastLimit: PAST_PAGE, busy: false,
  };
  root.id = `type-${type}`;
  root.dataset.jobType = type;
  const titleId = `type-title-${type}`;
  view.title.id = titleId;
  root.setAttribute("aria-labelledby", titleId);
  view.note.id = `start-note-${type}`;
  view.start.setAttribute("aria-describedby", view.note.id);
  view.form.addEventListener("submit", (e) => {
    e.preventDefault();
    handlers.start(view);
  });
  view.pastMore.addEventListener("click", () => {
    view.pastLimit += PAST_PAGE;
    touchType(type);
  });
  updateTypeHeader(view);
  return view;
}

function updateTypeHeader(view) {
  const info = typeInfo(view.type);
  setText(view.title, info.title || info.jobType);
  setText(view.name, info.jobType);
  setText(view.limit, info.unregistered ? "" : ` · ${t("card.limit", { max: info.maxConcurrent })}`);
  setText(view.desc, info.description || "");
  view.desc.hidden = !info.description;
  view.form.hidden = Boolean(info.unregistered);
  buildParamInputs(view, info.params || {}, info.paramsSchema || null);
}

function renderType(view) {
  const info = typeInfo(view.type);
  const active = [];
  const past = [];
  for (const job of state.jobs.values()) {
    if (job.jobType !== view.type) continue;
    (isActive(job) ? active : past).push(job);
  }
  // Start: disabled (and saying why) while the type has its maximum of active jobs.
  const full = !info.unregistered && active.length >= info.maxConcurrent;
  view.start.disabled = full || view.busy;
  // Parameters for a job that cannot start yet only take room; they keep their values for later.
  view.params.hidden = full || !(view.paramInputs && view.paramInputs.length);
  setText(view.start, view.busy ? t("card.starting") : t("card.start"));
  if (full) {
    setText(view.note, info.maxConcurrent === 1 ? t("card.limit_one")
      : t("card.limit_many", { active: active.length, max: info.maxConcurrent }));
    view.note.dataset.kind = "limit";
  } else if (view.note.dataset.kind === "limit") {
    setText(view.note, "");
    delete view.note.dataset.kind;
  }
  view.root.classList.toggle("has-active", active.length > 0);

  // Active jobs, oldest first.
  active.sort((a, b) => ms(a.queuedTime || a.startTime) - ms(b.queuedTime || b.startTime));
  reconcile(view.activeList, active, view.activeViews, (job) => createActiveView(job), (v) => v.root);
  for (const job of active) dirty.jobs.add(job.id);

  renderPast(view, past);
  renderCardTriage(view, active, past);
}

function renderPast(view, past) {
  past.sort((a, b) => (ms(b.endTime) || 0) - (ms(a.endTime) || 0) || ms(b.startTime) - ms(a.startTime));
  const shown = state.filter === "all" ? past : past.filter((j) => j.status === state.filter);
  // The store's count (from /past/summary) while only the newest jobs are here; what is here once it is more.
  const counted = state.pastCounts.get(view.type);
  const total = Math.max(past.length, counted ? counted.total : 0);
  const matching = state.filter === "all" ? total
    : Math.max(shown.length, counted ? counted.counts[state.filter] || 0 : 0);
  const all = state.filter === "all";
  // Counts as digits, as the counter shows them unfiltered.
  const counts = { matching: String(matching), total: String(total) };
  setText(view.pastCount, all ? counts.total : t("card.past_count_of", counts));
  setText($(".past-label", view.root), all ? t("card.past_jobs") : t(PAST_LABEL[state.filter]));
  view.pastEmpty.hidden = shown.length > 0;
  setText(view.pastEmpty, !total ? t("card.no_past_yet") : all ? t("card.no_past") : t(PAST_NONE[state.filter]));
  const page = shown.slice(0, view.pastLimit);
  view.pastMore.hidden = shown.length <= page.length;
  setText(view.pastMore, t("card.show_more_older", { count: shown.length - page.length }));
  reconcile(view.pastList, page, view.pastViews, (job) => createPastView(job), (v) => v.root);
  for (const job of page) patchPast(view.pastViews.get(job.id), job);
}

/** Put the views of `jobs` into `list` in order, reusing existing nodes and removing the rest. */
function reconcile(list, jobs, views, create, rootOf) {
  const keep = new Set(jobs.map((j) => j.id));
  for (const [id, v] of views) {
    if (!keep.has(id)) {
      rootOf(v).remove();
      views.delete(id);
    }
  }
  let cursor = list.firstElementChild;
  for (const job of jobs) {
    let v = views.get(job.id);
    if (!v) {
      v = create(job);
      views.set(job.id, v);
    }
    const root = rootOf(v);
    if (root === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(root, cursor);
  }
}


function createActiveView(job) {
  const root = $("#tpl-active").content.firstElementChild.cloneNode(true);
  root.dataset.jobId = job.id;
  root.setAttribute("aria-label", t("card.active_job", { id: shortId(job.id) }));
  const v = {
    id: job.id, root,
    badge: $(".badge", root), idEl: $(".job-id", root), author: $(".job-author", root),
    started: $(".job-started", root), abort: $(".abort-btn", root), abortNote: $(".abort-note", root),
    bar: $(".progress", root), fill: $(".progress-fill", root), pct: $(".progress-text", root),
    op: $(".job-op", root), elapsed: $(".job-elapsed", root), eta: $(".job-eta", root),
    abortingNote: $(".aborting-note", root), messages: $(".messages", root),
    total: $(".msg-total", root), panels: null, attempt: createAttemptLine(),
  };
  $(".job-sub", root).after(v.attempt.root);
  v.bar.setAttribute("aria-label", t("card.progress_of", { id: shortId(job.id) }));
  v.abort.addEventListener("click", () => handlers.abort(job.id, v.abortNote));
  v.panels = createPanels($(".msg-panels", root), job.id);
  return v;
}

function patchActive(v, job, now) {
  badge(v.badge, job.status);
  jobLink(job.id, v.idEl);
  setText(v.author, job.author ? t("card.author", { name: job.author }) : "");
  // A queued job waits for a worker of a task engine: say since when, and (in tickActive) for how long.
  const queued = job.status === "queued";
  const later = waitingToStart(job);   // a one-off start or a schedule's occurrence, due later
  setText(v.started, later ? t("card.starts_at", { time: localTime(job.runAt) })
    : queued ? t("card.queued_at", { time: localTime(job.queuedTime) })
    : t("card.started_at", { time: localTime(job.startTime) }));
  v.started.title = fullTime(later ? job.runAt : queued ? job.queuedTime : job.startTime);
  const p = percent(job.progress);
  if (v.bar.getAttribute("aria-valuenow") !== String(p)) {
    v.bar.setAttribute("aria-valuenow", String(p));
    const shown = num(p / 100, { style: "percent" });   // "42%", "42 %" in Finnish
    v.bar.setAttribute("aria-valuetext", shown);
    v.fill.style.width = `${p}%`;
    setText(v.pct, shown);
  }
  setText(v.op, operationText(job.currentOperation));
  // "Attempt 2 of 5 · retrying in 41 s": a change of that state (not the countdown) is announced, once.
  const before = v.attempt.key;
  const after = patchAttemptLine(v.attempt, job, now);
  if (before !== null && after && after !== before) {
    announce($("#announcer"), attemptNews(job, typeInfo(job.jobType).title));
  }
  tickActive(v, job, now);
  const aborting = job.status === "aborting";
  v.root.classList.toggle("is-aborting", aborting);
  v.abortingNote.hidden = !aborting;
  if (aborting) {
    const details = [
      job.abortRequestedTime ? ` ${t("card.aborting_at", { time: localTime(job.abortRequestedTime) })}` : "",
      job.abortedBy ? ` ${t("card.aborting_by", { name: job.abortedBy })}` : "",
      job.abortReason ? ` (${job.abortReason})` : "",
    ].join("");
    setText(v.abortingNote, t("card.aborting", { details }));
  }
  v.abort.disabled = aborting;
  setText(v.abort, aborting ? t("card.aborting_btn") : t("card.abort"));
  renderPanels(v.panels);
  setText(v.total, String(panelTotal(v.panels)));
}

function tickActive(v, job, now) {
  tickAttemptLine(v.attempt, job, now);
  if (waitingToStart(job)) {   // due later: when it starts, not how long it has waited
    setText(v.elapsed, ms(job.runAt) > now ? relative(job.runAt, now) : t("card.starting_now"));
    setText(v.eta, "–");
    return;
  }
  if (job.status === "queued") {
    setText(v.elapsed, t("card.waiting", { duration: duration((now - ms(job.queuedTime || job.startTime)) / 1000) }));
    setText(v.eta, "–");
    return;
  }
  setText(v.elapsed, duration((now - ms(job.startTime)) / 1000));
  setText(v.eta, eta(job, now));
}

function createPastView(job) {
  const root = $("#tpl-past").content.firstElementChild.cloneNode(true);
  root.dataset.jobId = job.id;
  const v = {
    id: job.id, root, details: $(".past-job", root),
    badge: $(".badge", root), idEl: $(".job-id", root),
    ended: $(".job-ended", root), dur: $(".job-duration", root), error: $(".past-error", root),
    meta: $(".past-meta", root), panelsHost: $(".msg-panels", root), panels: null,
  };
  v.details.addEventListener("toggle", () => {
    if (v.details.open) openPast(v);
  });
  return v;
}

function patchPast(v, job) {
  if (!v) return;
  badge(v.badge, job.status);
  jobLink(job.id, v.idEl);
  setText(v.ended, job.endTime ? t("card.ended", { time: localTime(job.endTime) }) : "");
  v.ended.title = fullTime(job.endTime);
  setText(v.dur, duration((ms(job.endTime) - ms(job.startTime)) / 1000));
  let why = "";
  if (job.status === "failed") why = job.lastError || "";
  else if (job.status === "aborted") {
    why = [job.abortReason ? t("card.reason", { reason: job.abortReason }) : "",
      job.abortedBy ? t("card.aborted_by", { name: job.abortedBy }) : ""].filter(Boolean).join(" ");
  }
  setText(v.error, why);
  v.error.title = why;
  v.error.hidden = !why;
  if (v.details.open) {
    setText(v.meta, pastMeta(job));
    if (v.panels) renderPanels(v.panels);
  }
}

function pastMeta(job) {
  const parts = [t("common.job_link", { id: job.id }), job.author ? t("card.author", { name: job.author }) : "",
    t("card.meta_started", { time: fullTime(job.startTime) })].filter(Boolean);
  if (job.endTime) parts.push(t("card.ended", { time: fullTime(job.endTime) }));
  if (job.params && Object.keys(job.params).length) {
    parts.push(t("card.meta_params", { params: JSON.stringify(job.params) }));
  }
  if (job.result !== null && job.result !== undefined) {
    parts.push(t("card.meta_result", { result: JSON.stringify(job.result) }));
  }
  return parts.join(" · ");
}

async function openPast(v) {
  const job = state.jobs.get(v.id);
  if (!job) return;
  setText(v.meta, pastMeta(job));
  if (!v.panels) v.panels = createPanels(v.panelsHost, v.id);
  const log = logOf(v.id);
  if (!log.complete && !log.opened) {
    // The newest messages first; the panels' "Show older" loads the rest (loadOlder).
    v.panelsHost.setAttribute("aria-busy", "true");
    v.panels.loading = true;
    renderPanels(v.panels);
    if (!log.loading) {
      log.loading = api(`/single/${encodeURIComponent(v.id)}/progress?messages=last:${OPEN_MESSAGES}`)
        .then(({ data }) => {
          log.addJob(data);
          log.opened = true;
          markComplete(data);
        })
        .catch(showError)
        .finally(() => { log.loading = null; });
    }
    await log.loading;
    v.panels.loading = false;
    v.panelsHost.setAttribute("aria-busy", "false");
  }
  renderPanels(v.panels);
}

function renderStats() {
  const s = state.stats;
  if (!s) return;
  const active = s.active ?? (s.queued || 0) + (s.running || 0) + (s.aborting || 0);
  setText($("#stat-active"), String(active));
  const now = { queued: s.queued || 0, running: s.running || 0, aborting: s.aborting || 0 };
  setText($("#stat-active-sub"), t(s.queued ? "dash.now_queued" : "dash.now_running", now));
  // The last 24 hours' counts arrive after the first paint; until then the store's all-time ones are not shown.
  const day = (n) => (state.dayCounted ? String(n || 0) : "–");
  setText($("#stat-completed"), day(s.completed));
  setText($("#stat-failed"), day(s.failed));
  setText($("#stat-aborted"), day(s.aborted));
}

export function flush() {
  if (!state.loaded) return;
  if (dirty.cards) {
    dirty.cards = false;
    buildTypeCards();
  }
  if (dirty.allPast) {
    dirty.allPast = false;
    for (const type of typeViews.keys()) dirty.types.add(type);
  }
  const newTypes = [...dirty.types].filter((t) => !typeViews.has(t));
  if (newTypes.length) buildTypeCards();
  for (const type of dirty.types) {
    const view = typeViews.get(type);
    if (view) renderType(view);
  }
  dirty.types.clear();
  const now = Date.now();
  for (const id of dirty.jobs) {
    const job = state.jobs.get(id);
    if (!job) continue;
    const view = typeViews.get(job.jobType);
    if (!view) continue;
    const av = view.activeViews.get(id);
    if (av) patchActive(av, job, now);
    else patchPast(view.pastViews.get(id), job);
  }
  dirty.jobs.clear();
  if (dirty.stats) {
    dirty.stats = false;
    renderStats();
  }
}

// Elapsed time, the estimate and a retry's countdown move with the clock, not with events: one timer for the page.
setInterval(() => {
  if (document.hidden) return;
  const now = Date.now();
  for (const view of typeViews.values()) {
    for (const [id, av] of view.activeViews) {
      const job = state.jobs.get(id);
      if (job) tickActive(av, job, now);
    }
  }
}, 1000);

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) schedule();
});
