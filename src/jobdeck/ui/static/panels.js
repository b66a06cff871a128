/* Message panels: warnings & errors and info, newest first, rendered incrementally and bounded. */

import { $, setText } from "./dom.js";
import { fullTime, shortId, timeFmt } from "./format.js";
import { t } from "./i18n.js";
import { loadOlder, logOf, state, touchJob } from "./state.js";

const MSG_RENDER_CAP = 500;   // rendered nodes per message panel; "show older" raises it

export function createPanels(host, jobId) {
  host.appendChild($("#tpl-panels").content.cloneNode(true));
  const make = (cls, kind, labelKey) => {
    const root = $(cls, host);
    const scroll = $(".msg-scroll", root);
    scroll.setAttribute("role", "region");
    scroll.setAttribute("aria-label", t(labelKey, { id: shortId(jobId) }));
    const panel = {
      kind, root, list: $(".msg-list", root), count: $(".msg-count", root), more: $(".msg-more", root),
      rendered: 0, cap: MSG_RENDER_CAP,
    };
    panel.more.addEventListener("click", async (e) => {
      if (e.target.closest("button")) {
        await loadOlder(jobId).catch(() => {});
        panel.cap += MSG_RENDER_CAP;
        panel.rendered = -1;   // full render
        touchJob(jobId);
      }
    });
    return panel;
  };
  const panels = {
    jobId, loading: false,
    problems: make(".panel-problems", "problems", "panel.problems_of"),
    info: make(".panel-info", "info", "panel.info_of"),
  };
  // Collapsed past a few lines, so that a busy job's card does not push the others down; one button (which says
  // whether it is expanded) gives the lists their full height, and each list scrolls either way.
  host.classList.add("msg-collapsed");
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "btn btn-ghost btn-small msg-toggle";
  toggle.setAttribute("aria-expanded", "false");
  toggle.textContent = t("panel.taller");
  toggle.addEventListener("click", () => {
    const expanded = host.classList.toggle("msg-collapsed") === false;
    toggle.setAttribute("aria-expanded", String(expanded));
    toggle.textContent = expanded ? t("panel.shorter") : t("panel.taller");
  });
  host.appendChild(toggle);
  return panels;
}

export function panelTotal(panels) {
  const log = state.logs.get(panels.jobId);
  return log ? log.problems.base + log.problems.items.length + log.info.base + log.info.items.length : 0;
}

export function renderPanels(panels) {
  const log = logOf(panels.jobId);
  for (const kind of ["problems", "info"]) renderPanel(panels[kind], log[kind], panels.loading, log);
}

function messageNode(m, withKind) {
  const li = document.createElement("li");
  li.className = `msg msg-${m.type}`;
  const time = document.createElement("time");
  time.dateTime = m.iso;
  time.textContent = Number.isNaN(m.t) ? "" : timeFmt.format(new Date(m.t));
  time.title = fullTime(m.iso);
  li.appendChild(time);
  if (withKind) {
    const kind = document.createElement("span");
    kind.className = "msg-kind";
    kind.textContent = m.type === "error" ? t("panel.error") : t("panel.warning");
    li.appendChild(kind);
  }
  const text = document.createElement("span");
  text.className = "msg-text";
  text.textContent = m.text;
  li.appendChild(text);
  return li;
}

/** Newest first; appends only messages not rendered yet and trims the oldest past the cap. */
function renderPanel(panel, list, loading, log) {
  const total = list.base + list.items.length;   // absolute sequence of the next message
  const withKind = panel.kind === "problems";
  if (list.reordered || panel.rendered < 0 || panel.rendered < list.base) {
    list.reordered = false;
    panel.list.textContent = "";
    panel.rendered = Math.max(list.base, total - panel.cap);
  }
  if (panel.rendered < total) {
    const frag = document.createDocumentFragment();
    const from = Math.max(panel.rendered, total - panel.cap) - list.base;
    for (let i = list.items.length - 1; i >= from; i--) frag.appendChild(messageNode(list.items[i], withKind));
    panel.list.prepend(frag);
    panel.rendered = total;
    while (panel.list.childElementCount > panel.cap) panel.list.lastElementChild.remove();
  }
  setText(panel.count, String(total));
  const hiddenOlder = total - panel.list.childElementCount;
  if (loading && total === 0) {
    panel.more.hidden = false;
    setText(panel.more, t("panel.loading"));
  } else if (total === 0) {
    panel.more.hidden = false;
    setText(panel.more, panel.kind === "problems" ? t("panel.no_problems") : t("panel.no_messages"));
  } else if ((hiddenOlder > 0 && list.items.length > panel.list.childElementCount) || !log.complete) {
    panel.more.hidden = false;
    // Counts as digits, as the panel's own counters show them ("500 of 2000").
    const shown = String(panel.list.childElementCount);
    const said = log.complete ? t("panel.newest_of", { shown, total: String(total) }) : t("panel.newest", { shown });
    panel.more.textContent = `${said} `;   // a space before the button
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "btn btn-ghost btn-small";
    btn.textContent = t("panel.show_older");
    panel.more.appendChild(btn);
  } else {
    panel.more.hidden = true;
  }
}
