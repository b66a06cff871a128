/* Bulk actions in the dashboard: a confirmation dialog that states the exact count (a dry run of POST /bulk) and
what will happen before anything does, then the bulk job's link; and, on All jobs, row selection ("all N jobs
matching this filter" or the rows ticked), the action buttons and the CSV download. alljobs.js calls
setupBulkTable() once and bulkRow() for each row it draws. */

import { api, API } from "./api.js";
import { $ } from "./dom.js";
import { buildDialog } from "./dialog.js";
import { jobHref, say } from "./common.js";
import { t } from "./i18n.js";

// Each action's words: its button, the dialog's question and sentence, its OK button, the outcome and a refusal.
const WHAT = Object.fromEntries(["abort", "rerun", "resume", "delete"].map((action) => [action, {
  verb: t(`bulk.${action}.verb`), // i18n-ignore: a catalog key
  title: (count) => t(`bulk.${action}.title`, { count }), // i18n-ignore: a catalog key
  says: (count) => t(`bulk.${action}.says`, { count }), // i18n-ignore: a catalog key
  ok: (count) => t(`bulk.${action}.ok`, { count }), // i18n-ignore: a catalog key
  started: (count) => t(`bulk.${action}.started`, { count }), // i18n-ignore: a catalog key
  refused: (error) => t(`bulk.${action}.refused`, { error }), // i18n-ignore: a catalog key
}]));

let dialog = null;

function build() {
  const body = document.createElement("p");
  body.id = "bulk-body";
  const left = document.createElement("p");
  left.id = "bulk-left";
  left.hidden = true;
  return buildDialog({
    id: "bulk-dialog", titleId: "bulk-title", title: t("bulk.title"), describedBy: "bulk-body", parts: [body, left],
    cancel: t("bulk.cancel"), ok: { value: "go", text: t("bulk.go"), className: "btn btn-primary bulk-ok" },
  });
}

/** Plan ``action`` for ``target`` ({ids} or {filter}), state the count in a dialog, and on confirmation start the
bulk job. The outcome (with a link to the bulk job) is announced in ``note``. Resolves to the answer or null. */
export async function confirmBulk(action, target, note) {
  let plan;
  try {
    ({ data: plan } = await api("/bulk", { body: { action, ...target, dryRun: true } }));
  } catch (err) {
    say(note, t("bulk.count_failed", { error: err.message }), "error");
    return null;
  }
  dialog = dialog || build();
  const what = WHAT[action];
  $("#bulk-title", dialog).textContent = what.title(plan.count);
  $("#bulk-body", dialog).textContent = plan.count ? what.says(plan.count) : t("bulk.no_match");
  const left = $("#bulk-left", dialog);
  left.hidden = !plan.leftOut;
  // Why one of them is left out is the server's sentence (data, as it wrote it).
  left.textContent = plan.leftOut ? t("bulk.left_out", { count: plan.leftOut, why: plan.leftOutSample[0].why }) : "";
  const ok = $(".bulk-ok", dialog);
  ok.textContent = plan.count ? what.ok(plan.count) : t("bulk.nothing");
  ok.disabled = !plan.count;
  ok.className = `btn bulk-ok ${action === "delete" || action === "abort" ? "btn-danger" : "btn-primary"}`;
  const opener = document.activeElement;
  const answer = await new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
    $('button[value="cancel"]', dialog).focus();   // the safe choice has the focus
  });
  if (opener && opener.isConnected) opener.focus();
  if (answer !== "go") return null;
  try {
    const { data } = await api("/bulk", { body: { action, ...target } });
    note.textContent = "";
    note.hidden = false;
    note.dataset.kind = "ok";
    const link = document.createElement("a");
    link.href = jobHref(data.jobId);
    link.textContent = t("bulk.link", { id: data.jobId.slice(0, 8) });
    // The link goes into the sentence where it names {link}.
    const [before, after] = what.started(data.count).split("{link}");
    note.append(before, link, after ?? "");
    return data;
  } catch (err) {
    say(note, what.refused(err.message), "error");
    return null;
  }
}

/* ------------------------------------------------------------------ All jobs: selection and actions */

const selected = new Set();
let bar = null;
let currentFilters = () => ({});

function filterOf(filters) {
  const out = {};
  if (filters.q) out.q = filters.q;
  if (filters.type) out.jobType = filters.type;
  if (filters.status) out.status = [filters.status];
  if (filters.signature) out.signature = filters.signature;
  return out;
}

function refresh() {
  const all = $("#bulk-all", bar).checked;
  const n = selected.size;
  $("#bulk-count", bar).textContent = all ? t("bulk.all_selected") : t("bulk.selected", { count: n });
  for (const button of bar.querySelectorAll(".bulk-action")) button.disabled = !all && !n;
  const params = new URLSearchParams({ format: "csv" });
  const f = filterOf(currentFilters());
  if (f.q) params.set("q", f.q);
  if (f.jobType) params.set("jobType", f.jobType);
  if (f.status) params.set("status", f.status[0]);
  if (f.signature) params.set("signature", f.signature);
  $("#bulk-csv", bar).href = `${API}/search?${params}`;
}

/** Add the selection bar above ``table`` and a checkbox header; ``filters()`` is the filter of the rows shown. */
export function setupBulkTable(table, filters) {
  currentFilters = filters;
  bar = document.createElement("div");
  bar.className = "bulk-bar";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", t("bulk.bar"));
  const pick = document.createElement("label");
  pick.className = "bulk-all";
  const all = document.createElement("input");
  all.type = "checkbox";
  all.id = "bulk-all";
  pick.append(all, ` ${t("bulk.all_matching")}`);
  const count = document.createElement("span");
  count.id = "bulk-count";
  count.className = "summary";
  count.setAttribute("aria-live", "polite");
  bar.append(pick, count);
  for (const [action, w] of Object.entries(WHAT)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-small btn-ghost bulk-action";
    button.dataset.action = action;
    button.textContent = `${w.verb}…`;
    bar.appendChild(button);
  }
  const csv = document.createElement("a");
  csv.id = "bulk-csv";
  csv.className = "btn btn-small btn-ghost";
  csv.download = "jobs.csv";
  csv.textContent = t("bulk.csv");
  const barNote = document.createElement("p");
  barNote.id = "bulk-note";
  barNote.className = "action-note";
  barNote.setAttribute("role", "status");
  barNote.hidden = true;
  bar.append(csv, barNote);
  table.closest(".table-wrap").before(bar);
  const th = document.createElement("th");
  th.scope = "col";
  const said = document.createElement("span");
  said.className = "visually-hidden";
  said.textContent = t("bulk.select");
  th.appendChild(said);
  table.tHead.rows[0].prepend(th);
  $("#bulk-all", bar).addEventListener("change", refresh);
  for (const button of bar.querySelectorAll(".bulk-action")) {
    button.addEventListener("click", async () => {
      const target = $("#bulk-all", bar).checked ? { filter: filterOf(currentFilters()) } : { ids: [...selected] };
      const done = await confirmBulk(button.dataset.action, target, $("#bulk-note", bar));
      if (done) {
        selected.clear();
        for (const box of table.querySelectorAll(".bulk-pick")) box.checked = false;
        $("#bulk-all", bar).checked = false;
        refresh();
      }
    });
  }
  refresh();
}

/** The selection cell of one row (call for every row drawn, new or redrawn). */
export function bulkRow(tr, job) {
  const td = document.createElement("td");
  td.className = "col-pick";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.className = "bulk-pick";
  box.checked = selected.has(job.id);
  box.setAttribute("aria-label", t("bulk.select_job", { id: job.id.slice(0, 8) }));
  box.addEventListener("change", () => {
    if (box.checked) selected.add(job.id);
    else selected.delete(job.id);
    refresh();
  });
  td.appendChild(box);
  tr.prepend(td);
}

/** After new rows are loaded for another filter: the selection was for the old rows. */
export function resetSelection() {
  selected.clear();
  if (bar) {
    $("#bulk-all", bar).checked = false;
    refresh();
  }
}
