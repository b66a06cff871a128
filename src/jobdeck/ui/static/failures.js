/* The Failures page: failed jobs grouped by cause (GET /failures), newest group first. Each group links to All
jobs filtered to exactly its jobs (?status=failed&signature=...) and offers "Re-run these N jobs" through the bulk
confirmation dialog (bulk.js). The filters live in the address (?since=SECONDS&type=) like All jobs'. */

import { api } from "./api.js";
import { $ } from "./dom.js";
import { fullTime, localTime } from "./format.js";
import { applyRole, firstLine, say } from "./common.js";
import { confirmBulk } from "./bulk.js";
import { setLive } from "./header.js";
import { t } from "./i18n.js";

const form = $("#filters");
const list = $("#groups");

function filtersFromUrl() {
  const url = new URL(window.location.href);
  return { since: url.searchParams.get("since") || "", type: url.searchParams.get("type") || "" };
}

function time(iso) {
  const el = document.createElement("time");
  el.dateTime = iso;
  el.textContent = localTime(iso);
  el.title = fullTime(iso);
  return el;
}

function groupItem(group) {
  const li = document.createElement("li");
  li.className = "failure-group";
  li.dataset.signature = group.signature;
  const title = document.createElement("h2");
  const count = document.createElement("span");
  count.className = "count";
  count.textContent = `${group.count} ×`;
  const code = document.createElement("code");
  code.textContent = group.signature;
  title.append(count, code);
  const facts = document.createElement("p");
  facts.append(`${group.jobTypes.join(", ")} · ${t("failures.first")} `, time(group.firstSeen),
    ` · ${t("failures.last")} `, time(group.lastSeen));
  li.append(title, facts);
  if (group.message) {
    const example = document.createElement("p");
    example.className = "example";
    example.textContent = t("failures.example", { message: firstLine(group.message) });
    li.appendChild(example);
  }
  const actions = document.createElement("div");
  actions.className = "group-actions";
  const link = document.createElement("a");
  const params = new URLSearchParams({ status: "failed", signature: group.signature });
  link.href = `jobs?${params}`;
  link.className = "btn btn-small btn-ghost";
  link.textContent = t("failures.show_these", { count: group.count });
  const rerun = document.createElement("button");
  rerun.type = "button";
  rerun.className = "btn btn-small btn-primary rerun-group";
  rerun.textContent = t("failures.rerun_these", { count: group.count });
  const note = document.createElement("p");
  note.className = "action-note";
  note.setAttribute("role", "status");
  note.hidden = true;
  rerun.addEventListener("click", () => confirmBulk("rerun",
    { filter: { status: ["failed"], signature: group.signature } }, note));
  actions.append(link, rerun, note);
  li.appendChild(actions);
  return li;
}

async function load(filters) {
  const summary = $("#summary");
  const params = new URLSearchParams();
  if (filters.since) params.set("since", new Date(Date.now() - Number(filters.since) * 1000).toISOString());
  if (filters.type) params.set("jobType", filters.type);
  try {
    const { data } = await api(`/failures?${params}`);
    list.textContent = "";
    for (const group of data) list.appendChild(groupItem(group));
    const total = data.reduce((n, g) => n + g.count, 0);
    say(summary, data.length ? t("failures.summary", { count: total, groups: t("failures.groups", {
      count: data.length }) }) : t("failures.none"), "ok");
  } catch (err) {
    say(summary, t("failures.load_failed", { error: err.message }), "error");
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const filters = { since: form.elements.since.value, type: form.elements.type.value };
  const url = new URL(window.location.href);
  url.search = "";
  for (const [k, v] of Object.entries(filters)) if (v) url.searchParams.set(k, v);
  window.history.pushState(null, "", url);
  load(filters);
});

window.addEventListener("popstate", () => load(filtersFromUrl()));

async function start() {
  try {
    const { data } = await api("/types");
    for (const type of data) {
      const option = document.createElement("option");
      option.value = type.jobType;
      option.textContent = type.title || type.jobType;
      form.elements.type.appendChild(option);
    }
  } catch {
    /* the type filter stays at "All types" */
  }
  const filters = filtersFromUrl();
  form.elements.since.value = filters.since;
  form.elements.type.value = filters.type;
  await load(filters);
  // A snapshot, not a live view: Show reads the groups again (the header says so rather than "Connecting…").
  setLive("idle", t("failures.snapshot"));
  document.body.dataset.ready = "true";
}

applyRole(api);
start();
