/* The Re-run dialog: the job's params in an editable form, then POST /single/{id}/rerun. */

import { api } from "./api.js";
import { $ } from "./dom.js";
import { buildDialog } from "./dialog.js";
import { shortId } from "./format.js";
import { buildParamInputs, readParams } from "./params.js";
import { say } from "./common.js";
import { t } from "./i18n.js";

let dialog = null;
let ending = null;   // the open session's finish(), until it ends

function build() {
  const body = document.createElement("p");
  body.id = "rerun-body";
  const params = document.createElement("div");
  params.className = "params rerun-params";
  const note = document.createElement("p");
  note.className = "start-note rerun-note";
  note.setAttribute("aria-live", "polite");
  note.hidden = true;
  return buildDialog({
    id: "rerun-dialog", titleId: "rerun-title", title: t("rerun.title"), formClass: "rerun-form",
    parts: [body, params, note], cancel: t("rerun.cancel"), cancelNoValidate: true,
    ok: { value: "rerun", text: t("rerun.ok"), className: "btn btn-primary rerun-ok" },
  });
}

/** Ask for (possibly edited) params and start the new job; resolves to the new job, or null if cancelled.
`note` is the live region next to the button that opened the dialog: the outcome is announced there. */
export function rerunJob(job, typeInfo, note) {
  dialog = dialog || build();
  if (ending) ending(null);   // an earlier session whose close event has not arrived yet: it ends here
  const view = { type: job.jobType, params: $(".rerun-params", dialog), paramInputs: [], paramSig: null };
  buildParamInputs(view, job.params && typeof job.params === "object" ? job.params : {},
    typeInfo ? typeInfo.paramsSchema : null, `rerun-${job.id.slice(0, 8)}`);
  $("#rerun-body", dialog).textContent = t(view.paramInputs.length ? "rerun.body_edit" : "rerun.body",
    { type: typeInfo && typeInfo.title ? typeInfo.title : job.jobType, id: shortId(job.id) });
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
        say(note, t("rerun.started", { id: shortId(data.id) }), "ok");
      } catch (err) {
        if (err.status === 400) say(inner, err.message, "error");   // fix the field and try again
        else {
          finish(null);
          say(note, t("rerun.refused", { error: err.message }), "error");
        }
      } finally {
        button.disabled = false;
      }
    };
    const finish = (value) => {
      if (ending !== finish) return;   // ended already
      ending = null;
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(value);
    };
    // The close event comes a task after the dialog closed: one that finds it open again belongs to an earlier
    // session (Escape, then Enter on the button at once), not to this one.
    const onClose = () => {
      if (!dialog.open) finish(null);
    };
    ending = finish;
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    const first = view.paramInputs[0];
    (first ? first.input : $(".rerun-ok", dialog)).focus();
  });
}
