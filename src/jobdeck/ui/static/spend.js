/* What jobs spent, on the dashboard's pages (issue 24): the cost column of All jobs (sortable, with the total of
every job the filter matches, added up by the store: GET /spend/total), the job page's "Spent" fact, each operation's share, and a budget stop told apart from an admin's
abort. Costs are dollars (the job's usage.currency); a cost that is partly unknown shows as "at least". Amounts and
counts are written as the viewer's language writes them ("$1.50" in English, "1,50 $" in Finnish). */

import { lang, num, t } from "./i18n.js";

const money = new Intl.NumberFormat(lang, { style: "currency", currency: "USD", minimumFractionDigits: 2,
  maximumFractionDigits: 2 });
const small = new Intl.NumberFormat(lang, { style: "currency", currency: "USD", maximumSignificantDigits: 2 });

/** "$1.50", "$0.0042" below a cent. */
export function formatCost(cost) {
  return cost > 0 && cost < 0.01 ? small.format(cost) : money.format(cost);
}

/** What a job's cost cell says: "$1.50", "at least $0.80" when some of it is unknown, "–" when nothing was recorded. */
export function costText(usage) {
  if (!usage) return "–";
  if (usage.cost === null || usage.cost === undefined) return `≥ ${formatCost(usage.knownCost || 0)}`;
  return formatCost(usage.cost);
}

/** The number a cost sorts and adds up by (the known part; -1 for none). */
export const costValue = (usage) => (!usage ? -1 : usage.cost ?? usage.knownCost ?? 0);

/** "$1.50 · 24,800 input + 4,000 output tokens · requests 2" */
export function usageText(usage) {
  const parts = [usage.cost === null ? t("spend.cost_unknown", { known: formatCost(usage.knownCost || 0) })
    : costText(usage), t("spend.tokens_in_out", { input: usage.inputTokens, output: usage.outputTokens })];
  for (const [name, value] of Object.entries(usage.counters || {})) parts.push(`${name} ${num(value)}`);
  return parts.join(" · ");
}

/** An operation's share, for the job page's tree: "$0.05 · 14,400 tokens". */
export function shareElement(share) {
  const span = document.createElement("span");
  span.className = "op-cost";
  span.textContent = t("spend.share", { cost: costText(share), tokens: share.inputTokens + share.outputTokens });
  return span;
}

/** Whether the job was stopped by its budget rather than by a person. */
export const budgetStop = (job) => job.abortedBy === "budget";

/** The cost cell of an All jobs row. */
export function costCell(tr, job) {
  const td = document.createElement("td");
  td.className = "col-cost";
  td.dataset.cost = String(costValue(job.usage));
  td.textContent = costText(job.usage);
  tr.appendChild(td);
  return td;
}

/** The query of GET /spend/total for All jobs' filters (the same names as its search). */
export function totalQuery(filters) {
  const params = new URLSearchParams();
  if (filters.q) params.set("q", filters.q);
  if (filters.type) params.set("jobType", filters.type);
  if (filters.status) params.set("status", filters.status);
  if (filters.schedule) params.set("scheduleId", filters.schedule);
  if (filters.signature) params.set("signature", filters.signature);
  return `/spend/total${params.size ? `?${params}` : ""}`; // i18n-ignore: an API path
}

/** What the total under the table says: what it covers and what those jobs spent. */
export function totalText(total, filtered) {
  if (!total.withUsage) return "";
  const spent = total.unknown ? t("spend.at_least", { cost: formatCost(total.cost) }) : formatCost(total.cost);
  let recorded = t("spend.recorded", { count: total.withUsage });
  if (total.unknown) recorded = `${recorded}; ${t("spend.partly_unknown", { count: total.unknown })}`;
  const values = { count: total.jobs, spent, recorded };
  return filtered ? t("spend.total_filtered", values) : t("spend.total_all", values);
}

/** The total of the rows shown, for a view that loaded every job it covers (a time range). */
function shownText(rows) {
  const spent = rows.map((r) => Number(r.querySelector(".col-cost")?.dataset.cost ?? -1)).filter((c) => c >= 0);
  if (!spent.length) return "";
  const sum = spent.reduce((a, b) => a + b, 0);
  return t("spend.total_shown", { count: rows.length, spent: formatCost(sum),
    recorded: t("spend.recorded", { count: spent.length }) });
}

/** Make the table's Cost header sort the rows shown (most expensive first, then cheapest first, then as loaded),
and keep ``total`` saying what every job matching ``filters()`` cost together (all pages, not only the rows shown),
asked of the server when the rows change (a new filter, a page more, a job that ended), at most every 300 ms.
``filters()`` null: the view has a time range, which the server's total does not know; its rows are every job
in it (All jobs loads them all), so the total adds up the rows shown. */
export function setupCostColumn(table, total, filters, fetchJson) {
  const header = table.querySelector("th.col-cost");
  const button = header.querySelector("button");
  const body = table.tBodies[0];
  let order = "none";
  const rows = () => Array.from(body.rows);
  let timer = null;
  let asked = 0;
  const summarise = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++asked;
      const shown = filters();
      if (shown === null) {   // a time range: every job in it is loaded, and the rows shown are what it covers
        total.textContent = shownText(rows());
        total.dataset.jobs = String(rows().length);
        return;
      }
      try {
        const { data } = await fetchJson(totalQuery(shown));
        if (mine !== asked) return;   // a newer answer is on its way
        total.textContent = totalText(data, Object.values(shown).some(Boolean));
        total.dataset.jobs = String(data.jobs);
      } catch {
        if (mine === asked) total.textContent = "";
      }
    }, 300);
  };
  const sort = () => {
    if (order === "none") return;
    const sign = order === "descending" ? -1 : 1;
    const sorted = rows().map((r, i) => [r, i]).sort(([a, i], [b, j]) => {
      const d = Number(a.querySelector(".col-cost").dataset.cost) - Number(b.querySelector(".col-cost").dataset.cost);
      return d ? sign * d : i - j;
    });
    for (const [r] of sorted) body.appendChild(r);
  };
  button.addEventListener("click", () => {
    order = order === "descending" ? "ascending" : order === "ascending" ? "none" : "descending";
    header.setAttribute("aria-sort", order);
    button.dataset.order = order;
    if (order === "none") {
      const back = rows().sort((a, b) => Number(a.dataset.loaded) - Number(b.dataset.loaded));
      for (const r of back) body.appendChild(r);
    } else sort();
  });
  let loaded = 0;
  let counted = -1;
  new MutationObserver(() => {
    const fresh = rows().filter((r) => !r.dataset.loaded);
    for (const r of fresh) r.dataset.loaded = String(loaded++);
    if (fresh.length || rows().length !== counted) summarise();   // not for a sort, which only moves rows
    counted = rows().length;
  }).observe(body, { childList: true });
  summarise();
}
