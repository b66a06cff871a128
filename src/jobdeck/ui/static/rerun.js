/* The Re-run dialog: the job's params in an editable form, then POST /single/{id}/rerun. */

import { api } from "./api.js";
import { $ } from "./dom.js";
import { shortId } from "./format.js";
import { buildParamInputs, readParams } from "./params.js";
import { say } from "./common.js";

let dialog = null;

function build() {
  const dlg = document.createElement("dialog");
  dlg.className = "dialog";
  dlg.id = "rerun-dialog";
  dlg.setAttribute("aria-labelledby", "rerun-title");
  dlg.innerHTML = `<form method="dialog" class="rerun-form">
      <h2 id="rerun-title">Re-run job</h2>
      <p id="rerun-body"></p>
      <div class="params rerun-params"></div>
      <p class="start-note rerun-note" aria-live="polite" hidden></p>
      <div class="dialog-actions">
        <button type="submit" value="cancel" class="btn btn-ghost" formnovalidate>Cancel</button>
        <button type="submit" value="rerun" class="btn btn-primary rerun-ok">Re-run</button>
      </div>
    </form>`;
  document.body.appendChild(dlg);
  return dlg;
}

/** Ask for (possibly edited) params and start the new job; resolves to the new job, or null if cancelled.
`note` is the live region next to the button that opened the dialog: the outcome is announced there. */
export function rerunJob(job, typeInfo, note) {
  dialog = dialog || build();
  const view = { type: job.jobType, params: $(".rerun-params", dialog), paramInputs: [], paramSig: null };
  buildParamInputs(view, job.params && typeof job.params === "object" ? job.params : {},
    typeInfo ? typeInfo.paramsSchema : null, `rerun-${job.id.slice(0, 8)}`);
  $("#rerun-body", dialog).textContent = `Start a new ${typeInfo && typeInfo.title ? typeInfo.title : job.jobType} `
    + `job with the parameters of job ${shortId(job.id)}${view.paramInputs.length ? " (edit them first if needed)" : ""}.`;
  const inner = $(".rerun-note", dialog);
  say(inner, "");
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const form = $("form", dialog);
    const onSubmit = async (e) => {
      if (e.submitter && e.submitter.value !== "rerun") return;   // Cancel closes the dialog
      e.preventDefault();
      let params;
      try {
        params = readParams(view);
      } catch (err) {
        say(inner, err.message, "error");
        return;
      }
      const button = $(".rerun-ok", dialog);
      button.disabled = true;
      try {
        const { data } = await api(`/single/${encodeURIComponent(job.id)}/rerun`, { body: { params } });
        finish(data);
        say(note, `Re-run started: job ${shortId(data.id)}.`, "ok");
      } catch (err) {
        if (err.status === 400) say(inner, err.message, "error");   // fix the field and try again
        else {
          finish(null);
          say(note, `Re-run refused: ${err.message}`, "error");
        }
      } finally {
        button.disabled = false;
      }
    };
    const finish = (value) => {
      form.removeEventListener("submit", onSubmit);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(value);
    };
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", () => finish(null), { once: true });
    dialog.showModal();
    const first = view.paramInputs[0];
    (first ? first.input : $(".rerun-ok", dialog)).focus();
  });
}
