/* Why an active job is where it is (issue 22): a badge on each dashboard card and the sentence on the job page.
A diagnosis changes with time alone (a job turns "stalled" without any event), so both follow it by polling: the
dashboard one /active?messages=none for every card, the job page its own job, every POLL_MS while visible. */

import { api } from "./api.js";
import { setText } from "./dom.js";
import { t } from "./i18n.js";

const POLL_MS = 5000;
// What the badge says; "ok" (working normally) shows none.
// The sentence beside it (diagnosis.text) is the server's and stays as it wrote it.
export const DIAGNOSIS_LABEL = {
  scheduled: t("diag.scheduled"), retry_wait: t("diag.retry_wait"), no_worker: t("diag.no_worker"),
  slot_busy: t("diag.slot_busy"), dispatching: t("diag.dispatching"), heartbeat_late: t("diag.heartbeat_late"),
  stalled: t("diag.stalled"), abort_pending: t("diag.abort_pending"),
};

/** Show `diagnosis` ({code, text} or null) in the badge `el`: its label, with the sentence for every reader. */
export function showDiagnosis(el, diagnosis) {
  const label = diagnosis && DIAGNOSIS_LABEL[diagnosis.code];
  el.hidden = !label;
  if (!label) return;
  el.dataset.code = diagnosis.code;
  el.title = diagnosis.text;
  let seen = el.querySelector(".diagnosis-label");
  let said = el.querySelector(".visually-hidden");
  if (!seen) {
    seen = el.appendChild(document.createElement("span"));
    seen.className = "diagnosis-label";
    said = el.appendChild(document.createElement("span"));
    said.className = "visually-hidden";
  }
  setText(seen, label);
  setText(said, `: ${diagnosis.text}`);
}

function every(fn) {
  fn();
  setInterval(() => { if (!document.hidden) fn(); }, POLL_MS);
}

/** The dashboard: each active card's `.diagnosis` badge (a card added since gets its badge at the next poll). */
export function followCardDiagnoses() {
  every(async () => {
    let jobs;
    try {
      jobs = (await api("/active?messages=none")).data;
    } catch {
      return;   // the page's own loading says when the server is away
    }
    const byId = new Map(jobs.map((job) => [job.id, job.diagnosis || null]));
    for (const el of document.querySelectorAll(".active-job .diagnosis")) {
      const card = el.closest("[data-job-id]");
      showDiagnosis(el, card ? byId.get(card.dataset.jobId) || null : null);
    }
  });
}

/** The job page: the sentence in `el` (hidden once the job has ended, or while it works normally). */
export function followJobDiagnosis(jobId, el) {
  every(async () => {
    let job;
    try {
      job = (await api(`/single/${encodeURIComponent(jobId)}/progress?messages=none`)).data;
    } catch {
      return;
    }
    const diagnosis = job.diagnosis;
    el.hidden = !diagnosis || diagnosis.code === "ok";
    el.dataset.code = diagnosis ? diagnosis.code : "";
    setText(el, diagnosis ? `${DIAGNOSIS_LABEL[diagnosis.code] || t("diag.working")}: ${diagnosis.text}` : "");
  });
}
