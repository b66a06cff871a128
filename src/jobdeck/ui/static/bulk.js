/* Bulk actions in the dashboard: a confirmation dialog that states the exact count (a dry run of POST /bulk) and
what will happen before anything does, then the bulk job's link; and, on All jobs, row selection ("all N jobs
matching this filter" or the rows ticked), the action buttons and the CSV download. alljobs.js calls
setupBulkTable() once and bulkRow() for each row it draws. */

import { api, API } from "./api.js";
import { $ } from "./dom.js";
import { jobHref, say } from "./common.js";

const WHAT = {
  abort: { verb: "Abort", says: (n) => `ask ${n} running or queued job${n === 1 ? "" : "s"} to stop` },
  rerun: { verb: "Re-run", says: (n) => `start ${n} new job${n === 1 ? "" : "s"} with the same type and parameters` },
  resume: { verb: "Resume", says: (n) => `start ${n} new job${n === 1 ? "" : "s"} that take over what each saved` },
  delete: { verb: "Delete", says: (n) => `delete ${n} finished job${n === 1 ? "" : "s"} and their messages for good` },
};
let dialog = null;

function build() {
  const dlg = document.createElement("dialog");
  dlg.className = "dialog";
  dlg.id = "bulk-dialog";
  dlg.setAttribute("aria-labelledby", "bulk-title");
  dlg.setAttribute("aria-describedby", "bulk-body");
  dlg.innerHTML = `<form method="dialog">
      <h2 id="bulk-title">Bulk action</h2>
      <p id="bulk-body"></p>
      <p id="bulk-left" hidden></p>
      <div class="dialog-actions">
        <button type="submit" value="cancel" class="btn btn-ghost">Cancel</button>
        <button type="submit" value="go" class="btn btn-primary bulk-ok">Go</button>
      </div>
    </form>`;
  document.body.appendChild(dlg);
  return dlg;
}

/** Plan ``action`` for ``target`` ({ids} or {filter}), state the count in a dialog, and on confirmation start the
bulk job. The outcome (with a link to the bulk job) is announced in ``note``. Resolves to the answer or null. */
export async function confirmBulk(action, target, note) {
  let plan;
  try {
    ({ data: plan } = await api("/bulk", { body: { action, ...target, dryRun: true } }));
  } catch (err) {
    say(note, `Could not count the jobs: ${err.message}`, "error");
    return null;
  }
  dialog = dialog || build();
  const what = WHAT[action];
  $("#bulk-title", dialog).textContent = `${what.verb} ${plan.count} job${plan.count === 1 ? "" : "s"}?`;
  $("#bulk-body", dialog).textContent = plan.count
    ? `This will ${what.says(plan.count)}, one after another, as a bulk job you can follow and stop.`
    : "No job matches for this action: there is nothing to do.";
  const left = $("#bulk-left", dialog);
  left.hidden = !plan.leftOut;
  left.textContent = plan.leftOut ? `${plan.leftOut} other matching job${plan.leftOut === 1 ? "" : "s"} will be `
    + `left out (${plan.leftOutSample[0].why}${plan.leftOut > 1 ? ", …" : ""}).` : "";
  const ok = $(".bulk-ok", dialog);
  ok.textContent = plan.count ? `${what.verb} ${plan.count} job${plan.count === 1 ? "" : "s"}` : "Nothing to do";
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
    link.textContent = `the bulk job ${data.jobId.slice(0, 8)}`;
    note.append(`${what.verb} of ${data.count} job${data.count === 1 ? "" : "s"} started: follow `, link, ".");
    return data;
  } catch (err) {
    say(note, `${what.verb} refused: ${err.message}`, "error");
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
  $("#bulk-count", bar).textContent = all ? "All jobs matching this filter are selected."
    : `${n} job${n === 1 ? "" : "s"} selected.`;
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
  bar.setAttribute("aria-label", "Bulk actions");
  bar.innerHTML = `<label class="bulk-all"><input type="checkbox" id="bulk-all"> All jobs matching this filter</label>
    <span id="bulk-count" class="summary" aria-live="polite"></span>
    ${Object.entries(WHAT).map(([action, w]) =>
      `<button type="button" class="btn btn-small btn-ghost bulk-action" data-action="${action}">${w.verb}…</button>`)
      .join("")}
    <a id="bulk-csv" class="btn btn-small btn-ghost" download="jobs.csv">Download CSV</a>
    <p id="bulk-note" class="action-note" role="status" hidden></p>`;
  table.closest(".table-wrap").before(bar);
  const th = document.createElement("th");
  th.scope = "col";
  th.innerHTML = '<span class="visually-hidden">Select</span>';
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
  box.setAttribute("aria-label", `Select job ${job.id.slice(0, 8)}`);
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
