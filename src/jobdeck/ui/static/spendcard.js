/* On the dashboard, each type card says what its jobs spent today and this month (GET /spend), refreshed every
15 s and when a job ends. Kept apart from the card's own rendering: it adds one line under the description. */

import { api } from "./api.js";
import { formatCost } from "./spend.js";

const REFRESH_MS = 15_000;
let timer = 0;

function lineOf(card) {
  let line = card.querySelector(".type-spend");
  if (!line) {
    line = document.createElement("p");
    line.className = "type-spend";
    const desc = card.querySelector(".type-desc");
    if (desc) desc.after(line);
    else card.appendChild(line);
  }
  return line;
}

export async function refreshSpend() {
  clearTimeout(timer);
  try {
    const { data } = await api("/spend");
    const byType = new Map(data.map((t) => [t.jobType, t]));
    for (const card of document.querySelectorAll("article.type-card[data-job-type]")) {
      const spent = byType.get(card.dataset.jobType);
      const line = card.querySelector(".type-spend");
      if (!spent) {
        if (line) line.remove();
        continue;
      }
      lineOf(card).textContent = `Spent today ${formatCost(spent.today)} · this month ${formatCost(spent.month)}`;
    }
  } catch {
    /* a server without /spend, or one away for a moment: the cards say nothing about spending */
  }
  timer = setTimeout(refreshSpend, REFRESH_MS);
}

function whenReady() {
  const types = document.getElementById("types");
  if (types && types.getAttribute("aria-busy") === "false") {
    refreshSpend();
    return;
  }
  setTimeout(whenReady, 200);
}

whenReady();
