/* Recovery on every page: which attempt a job is on, the countdown to its next one, each failed attempt's error,
and Resume (a new job that takes over what a failed or aborted one saved and finished).

A job waiting for its next attempt is `queued` with `retryAt`; `attempt` is the run it waits for. The countdown
is drawn by the page's one clock (views.js ticks the dashboard, jobpage.js its job) and hidden from screen
readers, which read the absolute time instead; each page announces only the change of state (see announce). */

import { api } from "./api.js";
import { setText } from "./dom.js";
import { localTime, ms, shortId } from "./format.js";
import { jobHref, say } from "./common.js";
import { waitingToStart } from "./schedinfo.js";
import { t } from "./i18n.js";

const FAILED_ATTEMPT = /^attempt (\d+) of (\d+) failed: ([\s\S]*)$/;

/** A job's run count as the server keeps it: `attempt` (1 for the first run) of `maxAttempts`. */
function counts(job) {
  const attempt = Number.isInteger(job.attempt) && job.attempt > 0 ? job.attempt : 1;
  const max = Number.isInteger(job.maxAttempts) && job.maxAttempts > 0 ? job.maxAttempts : 1;
  return { attempt, max };
}

/** Whether the job waits for its next attempt (rather than for a worker). */
export const waitingToRetry = (job) => job.status === "queued" && Boolean(job.retryAt) && !Number.isNaN(ms(job.retryAt))
  && !waitingToStart(job);   // a job due later (runAt) waits for its first run, not for a retry

/** "Attempt 2 of 5" while a job waits for a later attempt or runs one; "" for a first run and for ended jobs. */
export function attemptText(job) {
  const { attempt, max } = counts(job);
  if (waitingToRetry(job)) return t("retry.attempt", { attempt, max: Math.max(attempt, max) });
  if ((job.status === "running" || job.status === "aborting") && attempt > 1) {
    return t("retry.attempt", { attempt, max: Math.max(attempt, max) });
  }
  return "";
}

/** "2/5" once a job has needed more than one attempt (the All jobs table), else "": a first run says nothing. */
export function attemptShort(job) {
  const { attempt, max } = counts(job);
  return attempt > 1 ? `${attempt}/${Math.max(attempt, max)}` : "";
}

/** A countdown in whole seconds: "41 s", "2 min 05 s", "1 h 03 min". */
export function countdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return t("time.seconds", { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("time.minutes_seconds", { m, s: String(s % 60).padStart(2, "0") });
  return t("time.hours_minutes", { h: Math.floor(m / 60), m: String(m % 60).padStart(2, "0") });
}

/** "retrying in 41 s" (or "retrying now" once due: the next free runner picks it up). */
export function retryIn(job, now) {
  const left = (ms(job.retryAt) - now) / 1000;
  return left >= 0.5 ? t("retry.in", { time: countdown(left) }) : t("retry.now");
}

/** The line "Attempt 2 of 5 · retrying in 41 s": the attempt in words, the countdown hidden from screen readers
 * (they read "next attempt at 23:15:02" instead, which does not change every second). */
export function createAttemptLine(tag = "p") {
  const root = document.createElement(tag);
  root.className = "attempt-line";
  root.hidden = true;
  const text = document.createElement("span");
  text.className = "attempt-text";
  const count = document.createElement("span");
  count.className = "attempt-countdown";
  count.setAttribute("aria-hidden", "true");
  const at = document.createElement("span");
  at.className = "attempt-at visually-hidden";
  root.append(text, count, at);
  return { root, text, count, at, key: null };
}

/** Patch the line for `job` (only what changed); returns the state key, which changes with the state only. */
export function patchAttemptLine(line, job, now) {
  const words = attemptText(job);
  const waiting = waitingToRetry(job);
  const key = words ? `${words}|${waiting ? job.retryAt : ""}` : "";
  if (key !== line.key) {
    line.key = key;
    line.root.hidden = !words;
    setText(line.text, words);
    const when = waiting ? localTime(job.retryAt) : "";
    setText(line.at, waiting ? t("retry.next_said", { time: when }) : "");
    if (waiting) line.count.title = t("retry.next_title", { time: when });
    else line.count.removeAttribute("title");
  }
  tickAttemptLine(line, job, now);
  return key;
}

/** The clock's part: only the countdown moves. */
export function tickAttemptLine(line, job, now) {
  setText(line.count, waitingToRetry(job) ? ` · ${retryIn(job, now)}` : "");
}

/** What a page announces when a job's attempt state changes (never the countdown itself), or "". */
export function attemptNews(job, title) {
  const { attempt, max } = counts(job);
  const who = title ? t("retry.who_title", { id: shortId(job.id), title }) : t("retry.who", { id: shortId(job.id) });
  if (waitingToRetry(job)) {
    return t("retry.news_waiting", { who, failed: attempt - 1, max, next: attempt, time: localTime(job.retryAt) });
  }
  if (job.status === "running" && attempt > 1) return t("retry.news_running", { who, attempt, max });
  return "";
}

/** Put `text` into a page's polite live region (cleared first, so that the same words are read again). */
export function announce(region, text) {
  if (!region || !text) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 100);
}

/** The failed attempts of a job, oldest first, from its warnings ("attempt 1 of 3 failed: ..."), and the last
 * attempt's error where the job failed after more than one: [{attempt, max, text, iso}]. */
export function attemptFailures(job) {
  const out = [];
  for (const m of job.warningMessages || []) {
    const found = FAILED_ATTEMPT.exec(m.message);
    if (found) out.push({ attempt: Number(found[1]), max: Number(found[2]), text: found[3], iso: m.timestamp });
  }
  out.sort((a, b) => a.attempt - b.attempt || ms(a.iso) - ms(b.iso));
  const { attempt, max } = counts(job);
  const errors = job.errorMessages || [];
  if (job.status === "failed" && out.length && errors.length && !out.some((f) => f.attempt === attempt)) {
    const last = errors[errors.length - 1];
    out.push({ attempt, max, text: last.message, iso: last.timestamp });
  }
  return out;
}

/** Top-level operations of a tree (its `more` summaries counted in): {done, total}. */
export function operationCounts(nodes) {
  let done = 0;
  let total = 0;
  for (const node of nodes || []) {
    if (node.more !== undefined) {
      total += Number(node.more) || 0;
      done += Number(node.done) || 0;
    } else {
      total += 1;
      if (node.state === "done") done += 1;
    }
  }
  return { done, total };
}

/** The Resume button's label, saying what the new job takes over, or null when there is nothing to take over:
 * "Resume — 18 of 24 operations done" from the single view's operation tree, else "Resume — 3 saved values"
 * from its `savedKeys`. Only a failed or aborted job resumes. */
export function resumeLabel(job) {
  if (!job || (job.status !== "failed" && job.status !== "aborted")) return null;
  const { done, total } = operationCounts(job.operations);
  if (done > 0) return t("retry.resume_operations", { done, count: total });
  const saved = Array.isArray(job.savedKeys) ? job.savedKeys.length : 0;
  if (saved > 0) return t("retry.resume_saved", { count: saved });
  return null;
}

/** POST /single/{id}/resume, then open the new job's page. The outcome is said in `note` (a live region next to
 * the button); on success the page moves on. Resolves to the new job, or null when refused. */
export async function resumeJob(job, note, button) {
  if (button) button.disabled = true;
  try {
    const { data } = await api(`/single/${encodeURIComponent(job.id)}/resume`, { body: {} });
    say(note, t("retry.resumed", { id: shortId(data.id) }), "ok");
    window.location.assign(jobHref(data.id));
    return data;
  } catch (err) {
    // 401 hands over to the sign-in prompt where the page has one; a refusal by role says which role would do.
    if (err.status !== 401) say(note, t("retry.resume_refused", { error: err.message }), "error");
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}
