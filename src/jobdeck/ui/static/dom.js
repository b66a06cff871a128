/* Small DOM helpers and the page's notice area. */

export const $ = (sel, root = document) => root.querySelector(sel);

/** Write text only when it changed: no needless DOM mutation (and no layout work) per event. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

let noticeTimer = 0;
export function notify(text, kind = "info") {
  const el = $("#notice");
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 12000 : 6000);
}

export function showError(err) {
  if (err && err.status !== 401 && err.status !== 403) notify(err.message || String(err), "error");
}
