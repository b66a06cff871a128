/* jobdeck dashboard: live job monitoring without a build step.
 *
 * Data flow: one job map (id -> job head) and one message log per job are the page's state. Snapshots
 * (GET /types, /stats, /active, /past) and live events (GET /events, SSE) both go through the same
 * idempotent upserts, so a replayed event or an overlapping poll changes nothing. Every change only marks
 * what it touched as dirty; one flush per animation frame patches just those DOM nodes, and message lists
 * grow by appending new nodes (bounded, newest first) instead of being rebuilt.
 * When the stream drops, the page says so, polls /active and /past (with the X-Jobdeck-Cursor cursor)
 * until the stream is back, and EventSource resumes from Last-Event-ID; a `reset` event reloads state.
 */
"use strict";

(() => {
  const API = (document.querySelector('meta[name="jobdeck-api-prefix"]')?.content || "/api/admin/jobs")
    .replace(/\/+$/, "");
  const ACTIVE = new Set(["running", "aborting"]);
  const STATUS_LABEL = {
    running: "Running", aborting: "Aborting", completed: "Completed", failed: "Failed", aborted: "Aborted",
  };
  const MSG_RENDER_CAP = 500;   // rendered nodes per message panel; "show older" raises it
  const MSG_KEEP = 3000;        // messages kept in memory per panel (the store keeps 1000 per kind)
  const PAST_PAGE = 50;         // past jobs rendered per type before "show more"
  const PAST_LIMIT = 1000;      // past jobs loaded per snapshot
  const POLL_MS = 2000;

  const $ = (sel, root = document) => root.querySelector(sel);

  /* ------------------------------------------------------------------ state */

  const state = {
    types: new Map(),        // jobType -> type info from /types
    jobs: new Map(),         // id -> job head (message lists stripped)
    logs: new Map(),         // id -> MessageLog
    stats: null,
    pastCursor: null,
    lastEventId: "",
    filter: "all",
    authLost: false,
    loaded: false,
    queued: [],              // events that arrive before the first snapshot
  };

  const isActive = (job) => ACTIVE.has(job.status);
  const ms = (iso) => (iso ? Date.parse(iso) : NaN);

  class MessageLog {
    /** Warnings+errors and info of one job, oldest first, deduplicated by (type, timestamp, text). */
    constructor() {
      this.problems = { items: [], base: 0, reordered: false };
      this.info = { items: [], base: 0, reordered: false };
      this.keys = new Set();
      this.complete = false;   // holds every message the server has (not just the newest of a list view)
      this.loading = null;
    }

    add(m) {
      const key = `${m.type}\u0000${m.timestamp}\u0000${m.message}`;
      if (this.keys.has(key)) return false;
      this.keys.add(key);
      const list = m.type === "info" ? this.info : this.problems;
      const entry = { type: m.type, text: m.message, iso: m.timestamp, t: ms(m.timestamp), key };
      const items = list.items;
      if (items.length && entry.t < items[items.length - 1].t) {
        let i = items.length;
        while (i > 0 && items[i - 1].t > entry.t) i--;
        items.splice(i, 0, entry);
        list.reordered = true;   // the panel renders from scratch rather than appending
      } else {
        items.push(entry);
      }
      if (items.length > MSG_KEEP + 500) {
        const dropped = items.splice(0, items.length - MSG_KEEP);
        for (const d of dropped) this.keys.delete(d.key);
        list.base += dropped.length;
      }
      return true;
    }

    addJob(job) {
      let added = false;
      for (const field of ["warningMessages", "errorMessages", "infoMessages"]) {
        for (const m of job[field] || []) added = this.add(m) || added;
      }
      return added;
    }

    newest(kind) {
      const items = this[kind].items;
      return items.length ? items[items.length - 1] : null;
    }
  }

  function logOf(id) {
    let log = state.logs.get(id);
    if (!log) {
      log = new MessageLog();
      state.logs.set(id, log);
    }
    return log;
  }

  /* -------------------------------------------------------------- formatting */

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });

  function localTime(iso) {
    const t = ms(iso);
    if (Number.isNaN(t)) return "–";
    const d = new Date(t);
    return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
  }

  const fullTime = (iso) => (Number.isNaN(ms(iso)) ? "" : dateTimeFmt.format(new Date(ms(iso))));

  function duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "–";
    if (seconds < 10) return `${seconds.toFixed(1)} s`;
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  }

  function eta(job, now) {
    if (job.status !== "running") return "–";
    const p = job.progress || 0;
    const elapsed = (now - ms(job.startTime)) / 1000;
    // Progress allows an estimate once it has moved a little and the job has run for a moment.
    if (p < 0.02 || p >= 1 || elapsed < 2) return "Estimating…";
    const left = (elapsed * (1 - p)) / p;
    return left < 5 ? "a few seconds" : `about ${duration(left).replace(/^(\d+)\.\d s$/, "$1 s")}`;
  }

  const shortId = (id) => String(id).slice(0, 8);
  const percent = (p) => Math.max(0, Math.min(100, Math.floor((p || 0) * 100)));

  function operationText(op) {
    if (!op) return "–";
    return `${op.id}, ${op.index} of ${op.total}`;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  /* --------------------------------------------------------------- network */

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, { method, body } = {}) {
    const init = { method: method || "GET", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch {
      throw new ApiError("The server cannot be reached.", 0);
    }
    if (res.status === 401 || res.status === 403) {
      authLost();
      throw new ApiError("Sign in required.", res.status);
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) throw new ApiError((data && data.error) || `The server answered ${res.status}.`, res.status);
    return { data, headers: res.headers };
  }

  /* ------------------------------------------------------- state changes */

  const dirty = { jobs: new Set(), types: new Set(), stats: false, allPast: false };
  let scheduled = false;

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // Animation frames pause in hidden tabs; a timer keeps state current so the tab is right when shown.
    if (document.hidden) setTimeout(flush, 250);
    else requestAnimationFrame(flush);
  }

  function touchJob(id) {
    dirty.jobs.add(id);
    schedule();
  }

  function touchType(type) {
    dirty.types.add(type);
    schedule();
  }

  function stripMessages(job) {
    const head = { ...job };
    delete head.infoMessages;
    delete head.warningMessages;
    delete head.errorMessages;
    return head;
  }

  /** Insert or update a job from any source. Returns false when the data is older than what we have. */
  function upsertJob(job, { messages = "none", fromEvent = false } = {}) {
    const prev = state.jobs.get(job.id);
    if (prev) {
      if (!isActive(prev) && isActive(job)) return false;   // terminal is final: this snapshot is stale
      if (isActive(prev) && isActive(job) && ms(job.lastActivityTime) < ms(prev.lastActivityTime)) {
        if (prev.status === job.status) return false;
      }
    }
    const head = stripMessages(job);
    const errs = job.errorMessages;
    head.lastError = errs && errs.length ? errs[errs.length - 1].message : prev ? prev.lastError : null;
    const log = logOf(job.id);
    if (messages !== "none") log.addJob(job);
    if (messages === "all" || (fromEvent && !prev)) log.complete = true;
    const newest = log.newest("problems");
    if (newest && newest.type === "error") head.lastError = newest.text;
    state.jobs.set(job.id, head);

    if (!prev || prev.status !== head.status) {
      if (state.stats && (prev || fromEvent)) {
        if (prev) state.stats[prev.status] = Math.max(0, (state.stats[prev.status] || 0) - 1);
        state.stats[head.status] = (state.stats[head.status] || 0) + 1;
        state.stats.active = (state.stats.running || 0) + (state.stats.aborting || 0);
        dirty.stats = true;
      }
      touchType(head.jobType);
    }
    touchJob(job.id);
    return true;
  }

  function removeJob(id) {
    const job = state.jobs.get(id);
    if (!job) return;
    state.jobs.delete(id);
    state.logs.delete(id);
    touchType(job.jobType);
    refreshStatsSoon();
  }

  function applyProgress(id, data) {
    const job = state.jobs.get(id);
    if (!job) {
      fetchJob(id);
      return;
    }
    if (!isActive(job) || ms(data.lastActivityTime) < ms(job.lastActivityTime)) return;
    job.progress = data.progress;
    job.lastActivityTime = data.lastActivityTime;
    job.currentOperation = data.currentOperation;
    touchJob(id);
  }

  function applyMessage(id, data) {
    const job = state.jobs.get(id);
    if (!job) {
      fetchJob(id);
      return;
    }
    if (logOf(id).add(data.message)) {
      if (data.message.type === "error") job.lastError = data.message.message;
      if (ms(data.lastActivityTime) > ms(job.lastActivityTime)) job.lastActivityTime = data.lastActivityTime;
      touchJob(id);
    }
  }

  const fetching = new Set();
  async function fetchJob(id) {
    if (fetching.has(id)) return;
    fetching.add(id);
    try {
      const { data } = await api(`/single/${encodeURIComponent(id)}/progress?messages=all`);
      upsertJob(data, { messages: "all" });
    } catch (err) {
      if (err.status === 404) removeJob(id);
    } finally {
      fetching.delete(id);
    }
  }

  let statsTimer = 0;
  function refreshStatsSoon() {
    clearTimeout(statsTimer);
    statsTimer = setTimeout(async () => {
      try {
        state.stats = (await api("/stats")).data;
        dirty.stats = true;
        schedule();
      } catch {
        /* the next change or poll tries again */
      }
    }, 600);
  }

  /** Load the whole state: first load, `reset` events, and recovery. Jobs the server no longer has go. */
  async function loadAll() {
    const [types, stats, active, past] = await Promise.all([
      api("/types"),
      api("/stats"),
      api("/active?messages=all"),
      // The newest message of each kind is enough to show why a past job failed; the rest loads on demand.
      api(`/past?messages=last:1&limit=${PAST_LIMIT}`),
    ]);
    state.types = new Map(types.data.map((t) => [t.jobType, t]));
    state.pastCursor = past.headers.get("X-Jobdeck-Cursor") || state.pastCursor;
    const seen = new Set();
    for (const job of active.data) {
      seen.add(job.id);
      upsertJob(job, { messages: "all" });
    }
    for (const job of past.data) {
      seen.add(job.id);
      upsertJob(job, { messages: "last" });
    }
    for (const id of [...state.jobs.keys()]) if (!seen.has(id)) removeJob(id);
    state.stats = stats.data;   // after the upserts, which would otherwise count their changes twice
    state.loaded = true;
    dirty.stats = true;
    dirty.allPast = true;
    buildTypeCards();
    schedule();
    const queued = state.queued.splice(0);
    for (const ev of queued) applyEvent(ev.type, ev.data);
  }

  /* ---------------------------------------------------------- live stream */

  let source = null;
  let pollTimer = 0;
  let retryTimer = 0;
  let retryDelay = 1000;
  let everLive = false;

  function setConnection(kind, text) {
    const el = $("#connection");
    el.dataset.state = kind;
    setText($(".conn-text", el), text);
  }

  function applyEvent(type, payload) {
    if (!state.loaded) {
      state.queued.push({ type, data: payload });
      return;
    }
    const { jobId, data } = payload;
    switch (type) {
      case "created":
        upsertJob(data, { fromEvent: true });
        break;
      case "status":
        upsertJob(data, { fromEvent: true });
        refreshStatsSoon();
        break;
      case "progress":
        applyProgress(jobId, data);
        break;
      case "message":
        applyMessage(jobId, data);
        break;
      case "removed":
        removeJob(jobId);
        break;
      default:
        break;
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    if (state.authLost) return;
    const url = `${API}/events${state.lastEventId ? `?lastEventId=${encodeURIComponent(state.lastEventId)}` : ""}`;
    const es = new EventSource(url, { withCredentials: true });
    source = es;
    const live = () => {
      if (source !== es) return;
      setConnection("live", "Live");
      retryDelay = 1000;
      stopPolling();
      // After an outage, one poll closes any gap the event replay cannot (for example a restarted server).
      if (everLive) poll();
      everLive = true;
    };
    es.addEventListener("hello", live);
    es.addEventListener("open", live);
    for (const type of ["created", "progress", "message", "status", "removed"]) {
      es.addEventListener(type, (e) => {
        if (e.lastEventId) state.lastEventId = e.lastEventId;
        let payload;
        try {
          payload = JSON.parse(e.data);
        } catch {
          return;
        }
        applyEvent(type, payload);
      });
    }
    es.addEventListener("reset", (e) => {
      if (e.lastEventId) state.lastEventId = e.lastEventId;
      loadAll().catch(showError);
    });
    es.addEventListener("error", () => {
      if (source !== es || state.authLost) return;
      setConnection("reconnecting", "Reconnecting… (updating by polling)");
      startPolling();
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, not a dropped connection): find out why, then retry ourselves.
        source = null;
        api("/stats").then(() => scheduleReconnect(), (err) => {
          if (!state.authLost) scheduleReconnect(err);
        });
      }
    });
  }

  function scheduleReconnect() {
    if (state.authLost) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 8000);   // polling covers the gap meanwhile
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = 0;
  }

  let polling = false;
  async function poll() {
    if (polling || state.authLost || !state.loaded) return;
    polling = true;
    try {
      const since = state.pastCursor ? `&startFrom=${encodeURIComponent(state.pastCursor)}` : "";
      const [active, past] = await Promise.all([
        api("/active?messages=none"),
        api(`/past?messages=last:1&limit=${PAST_LIMIT}${since}`),
      ]);
      state.pastCursor = past.headers.get("X-Jobdeck-Cursor") || state.pastCursor;
      const seen = new Set();
      for (const job of past.data) {
        seen.add(job.id);
        upsertJob(job, { messages: "last" });
      }
      for (const job of active.data) {
        seen.add(job.id);
        upsertJob(job);
      }
      const gone = [...state.jobs.values()].filter((j) => isActive(j) && !seen.has(j.id)).map((j) => j.id);
      await Promise.all([...gone.map(fetchJob), ...active.data.map((j) => catchUpMessages(j.id))]);
      refreshStatsSoon();
    } catch {
      /* still offline: the indicator already says so */
    } finally {
      polling = false;
    }
  }

  async function catchUpMessages(id) {
    const log = logOf(id);
    const newest = [log.newest("problems"), log.newest("info")].filter(Boolean).sort((a, b) => b.t - a.t)[0];
    let since = newest ? newest.iso : null;
    for (let page = 0; page < 10; page++) {
      const q = since ? `?since=${encodeURIComponent(since)}&limit=1000` : "?limit=1000";
      const { data } = await api(`/single/${encodeURIComponent(id)}/messages${q}`);
      let added = false;
      for (const m of data.messages || []) added = log.add(m) || added;
      if (added) touchJob(id);
      if (!data.next || data.next === since) break;
      since = data.next;
    }
  }

  /* ------------------------------------------------------------ auth */

  function authLost() {
    if (state.authLost) return;
    state.authLost = true;
    if (source) source.close();
    source = null;
    stopPolling();
    clearTimeout(retryTimer);
    setConnection("offline", "Signed out");
    const dlg = $("#login");
    if (!dlg.open) dlg.showModal();
    $("#login-token").focus();
  }

  // The login form must not be dismissed into a page that cannot load anything.
  $("#login").addEventListener("cancel", (e) => e.preventDefault());

  // Signing in again resumes this page (stream, state) instead of reloading it; without JavaScript the form
  // would post and land on the dashboard anyway.
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const error = $("#login-error");
    const button = $("button[type=submit]", form);
    button.disabled = true;
    error.hidden = true;
    try {
      await fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
      });
      const probe = await fetch(`${API}/stats`, { credentials: "same-origin", cache: "no-store" });
      if (probe.ok) {
        form.reset();
        $("#login").close();
        state.authLost = false;
        setConnection("connecting", "Connecting…");
        connect();
        await loadAll();
        return;
      }
      error.textContent = "That token was not accepted. Check it and try again.";
    } catch {
      error.textContent = "The server cannot be reached. Try again in a moment.";
    } finally {
      button.disabled = false;
    }
    if (!state.authLost) return;
    error.hidden = false;
    $("#login-token").select();
  });

  /* ------------------------------------------------------------ notices */

  let noticeTimer = 0;
  function notify(text, kind = "info") {
    const el = $("#notice");
    el.dataset.kind = kind;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 12000 : 6000);
  }

  function showError(err) {
    if (err && err.status !== 401 && err.status !== 403) notify(err.message || String(err), "error");
  }

  /* ------------------------------------------------------ confirmation */

  function confirmAction({ title, body, ok, reason = true }) {
    const dlg = $("#confirm");
    const opener = document.activeElement;
    setText($("#confirm-title"), title);
    setText($("#confirm-body"), body);
    setText($("#confirm-ok"), ok);
    $("#confirm-reason-field").hidden = !reason;
    $("#confirm-reason").value = "";
    dlg.returnValue = "";
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => {
        const confirmed = dlg.returnValue === "confirm";
        if (opener && opener.isConnected && !opener.disabled) opener.focus();
        else $("#main").focus();
        resolve({ confirmed, reason: $("#confirm-reason").value.trim() });
      }, { once: true });
      dlg.showModal();
      $("#confirm-cancel").focus();   // the safe choice has focus; Escape also cancels
    });
  }

  /* ------------------------------------------------------------ views */

  const typeViews = new Map();   // jobType -> view

  function typeInfo(type) {
    return state.types.get(type) || {
      jobType: type, title: type, description: "This job type is not registered in this server.",
      maxConcurrent: 0, params: null, unregistered: true,
    };
  }

  function buildTypeCards() {
    const grid = $("#types");
    const wanted = new Set(state.types.keys());
    for (const job of state.jobs.values()) wanted.add(job.jobType);
    for (const [type, view] of typeViews) {
      if (!wanted.has(type)) {
        view.root.remove();
        typeViews.delete(type);
      }
    }
    for (const type of wanted) {
      let view = typeViews.get(type);
      if (!view) {
        view = createTypeView(type);
        typeViews.set(type, view);
      } else {
        updateTypeHeader(view);
      }
      grid.appendChild(view.root);   // keeps the server's order
      dirty.types.add(type);
    }
    $("#types-loading")?.remove();
    grid.setAttribute("aria-busy", "false");
    if (!wanted.size) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No job types are registered.";
      grid.appendChild(p);
    }
  }

  function createTypeView(type) {
    const root = $("#tpl-type").content.firstElementChild.cloneNode(true);
    const view = {
      type, root,
      title: $(".type-title", root), name: $(".type-name", root), limit: $(".type-limit", root),
      desc: $(".type-desc", root), form: $(".start-form", root), params: $(".params", root),
      start: $(".start-btn", root), note: $(".start-note", root),
      activeList: $(".active-list", root), activeViews: new Map(),
      past: $(".past", root), pastCount: $(".past-count", root), pastList: $(".past-list", root),
      pastEmpty: $(".past-empty", root), pastMore: $(".past-more", root), pastViews: new Map(),
      pastLimit: PAST_PAGE, busy: false,
    };
    root.id = `type-${type}`;
    root.dataset.jobType = type;
    const titleId = `type-title-${type}`;
    view.title.id = titleId;
    root.setAttribute("aria-labelledby", titleId);
    view.note.id = `start-note-${type}`;
    view.start.setAttribute("aria-describedby", view.note.id);
    view.form.addEventListener("submit", (e) => {
      e.preventDefault();
      startJob(view);
    });
    view.pastMore.addEventListener("click", () => {
      view.pastLimit += PAST_PAGE;
      touchType(type);
    });
    updateTypeHeader(view);
    return view;
  }

  function updateTypeHeader(view) {
    const info = typeInfo(view.type);
    setText(view.title, info.title || info.jobType);
    setText(view.name, info.jobType);
    setText(view.limit, info.unregistered ? "" : ` · up to ${info.maxConcurrent} at a time`);
    setText(view.desc, info.description || "");
    view.desc.hidden = !info.description;
    view.form.hidden = Boolean(info.unregistered);
    buildParamInputs(view, info.params || {});
  }

  function buildParamInputs(view, params) {
    const sig = JSON.stringify(params);
    if (view.paramSig === sig) return;
    view.paramSig = sig;
    view.params.textContent = "";
    view.paramInputs = [];
    for (const [name, def] of Object.entries(params)) {
      const id = `param-${view.type}-${name}`;
      const label = document.createElement("label");
      label.className = "field";
      label.htmlFor = id;
      const span = document.createElement("span");
      span.textContent = name;
      let input;
      let kind;
      if (typeof def === "boolean") {
        kind = "boolean";
        input = document.createElement("input");
        input.type = "checkbox";
        input.checked = def;
        label.classList.add("field-check");
      } else if (typeof def === "number") {
        kind = Number.isInteger(def) ? "integer" : "number";
        input = document.createElement("input");
        input.type = "number";
        input.step = kind === "integer" ? "1" : "any";
        input.value = String(def);
        input.required = true;
      } else if (def !== null && typeof def === "object") {
        kind = "json";
        input = document.createElement("textarea");
        input.rows = 2;
        input.value = JSON.stringify(def);
        input.spellcheck = false;
      } else {
        kind = def === null ? "nullable" : "string";
        input = document.createElement("input");
        input.type = "text";
        input.value = def === null ? "" : String(def);
        if (def === null) input.placeholder = "(none)";
      }
      input.id = id;
      input.name = name;
      if (kind === "boolean") label.append(input, span);
      else label.append(span, input);
      view.params.appendChild(label);
      view.paramInputs.push({ name, kind, input });
    }
    view.params.hidden = view.paramInputs.length === 0;
  }

  function readParams(view) {
    const params = {};
    for (const { name, kind, input } of view.paramInputs || []) {
      if (kind === "boolean") params[name] = input.checked;
      else if (kind === "integer" || kind === "number") {
        const n = Number(input.value);
        if (input.value.trim() === "" || !Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) {
          throw new Error(`${name} must be ${kind === "integer" ? "a whole number" : "a number"}.`);
        }
        params[name] = n;
      } else if (kind === "json") {
        try {
          params[name] = JSON.parse(input.value);
        } catch {
          throw new Error(`${name} must be valid JSON.`);
        }
      } else if (kind === "nullable") params[name] = input.value === "" ? null : input.value;
      else params[name] = input.value;
    }
    return params;
  }

  async function startJob(view) {
    let params;
    try {
      params = readParams(view);
    } catch (err) {
      setText(view.note, err.message);
      view.note.dataset.kind = "error";
      return;
    }
    view.busy = true;
    touchType(view.type);
    try {
      const body = { jobType: view.type };
      if (view.paramInputs.length) body.params = params;
      const { data } = await api("/start", { body });
      upsertJob(data, { fromEvent: !state.jobs.has(data.id) });
      setText(view.note, `Started job ${shortId(data.id)}.`);
      view.note.dataset.kind = "ok";
    } catch (err) {
      if (err.status !== 401 && err.status !== 403) {
        setText(view.note, err.message);
        view.note.dataset.kind = "error";
      }
    } finally {
      view.busy = false;
      touchType(view.type);
    }
  }

  function renderType(view) {
    const info = typeInfo(view.type);
    const active = [];
    const past = [];
    for (const job of state.jobs.values()) {
      if (job.jobType !== view.type) continue;
      (isActive(job) ? active : past).push(job);
    }
    // Start: disabled (and saying why) while the type has its maximum of active jobs.
    const full = !info.unregistered && active.length >= info.maxConcurrent;
    view.start.disabled = full || view.busy;
    // Parameters for a job that cannot start yet only take room; they keep their values for later.
    view.params.hidden = full || !(view.paramInputs && view.paramInputs.length);
    setText(view.start, view.busy ? "Starting…" : "Start");
    if (full) {
      setText(view.note, info.maxConcurrent === 1
        ? "A job of this type is already active; it can start again when that one ends."
        : `${active.length} of ${info.maxConcurrent} allowed jobs are active; wait for one to end.`);
      view.note.dataset.kind = "limit";
    } else if (view.note.dataset.kind === "limit") {
      setText(view.note, "");
      delete view.note.dataset.kind;
    }
    view.root.classList.toggle("has-active", active.length > 0);

    // Active jobs, oldest first.
    active.sort((a, b) => ms(a.startTime) - ms(b.startTime));
    reconcile(view.activeList, active, view.activeViews, (job) => createActiveView(job), (v) => v.root);
    for (const job of active) dirty.jobs.add(job.id);

    renderPast(view, past);
  }

  function renderPast(view, past) {
    past.sort((a, b) => (ms(b.endTime) || 0) - (ms(a.endTime) || 0) || ms(b.startTime) - ms(a.startTime));
    const shown = state.filter === "all" ? past : past.filter((j) => j.status === state.filter);
    setText(view.pastCount, state.filter === "all" ? String(past.length) : `${shown.length} of ${past.length}`);
    setText($(".past-label", view.root), state.filter === "all" ? "Past jobs" : `Past jobs · ${state.filter}`);
    view.pastEmpty.hidden = shown.length > 0;
    setText(view.pastEmpty, past.length ? `No ${state.filter} jobs.` : "No past jobs yet.");
    const page = shown.slice(0, view.pastLimit);
    view.pastMore.hidden = shown.length <= page.length;
    setText(view.pastMore, `Show more (${shown.length - page.length} older)`);
    reconcile(view.pastList, page, view.pastViews, (job) => createPastView(job), (v) => v.root);
    for (const job of page) patchPast(view.pastViews.get(job.id), job);
  }

  /** Put the views of `jobs` into `list` in order, reusing existing nodes and removing the rest. */
  function reconcile(list, jobs, views, create, rootOf) {
    const keep = new Set(jobs.map((j) => j.id));
    for (const [id, v] of views) {
      if (!keep.has(id)) {
        rootOf(v).remove();
        views.delete(id);
      }
    }
    let cursor = list.firstElementChild;
    for (const job of jobs) {
      let v = views.get(job.id);
      if (!v) {
        v = create(job);
        views.set(job.id, v);
      }
      const root = rootOf(v);
      if (root === cursor) cursor = cursor.nextElementSibling;
      else list.insertBefore(root, cursor);
    }
  }

  function badge(el, status) {
    el.className = `badge badge-${status}`;
    setText(el, STATUS_LABEL[status] || status);
  }

  function createActiveView(job) {
    const root = $("#tpl-active").content.firstElementChild.cloneNode(true);
    root.dataset.jobId = job.id;
    root.setAttribute("aria-label", `Active job ${shortId(job.id)}`);
    const v = {
      id: job.id, root,
      badge: $(".badge", root), idEl: $(".job-id", root), author: $(".job-author", root),
      started: $(".job-started", root), abort: $(".abort-btn", root),
      bar: $(".progress", root), fill: $(".progress-fill", root), pct: $(".progress-text", root),
      op: $(".job-op", root), elapsed: $(".job-elapsed", root), eta: $(".job-eta", root),
      abortingNote: $(".aborting-note", root), messages: $(".messages", root),
      total: $(".msg-total", root), panels: null,
    };
    v.bar.setAttribute("aria-label", `Progress of job ${shortId(job.id)}`);
    v.abort.addEventListener("click", () => abortJob(job.id));
    v.panels = createPanels($(".msg-panels", root), job.id);
    return v;
  }

  function patchActive(v, job, now) {
    badge(v.badge, job.status);
    setText(v.idEl, shortId(job.id));
    v.idEl.title = job.id;
    setText(v.author, job.author ? `by ${job.author}` : "");
    setText(v.started, `Started ${localTime(job.startTime)}`);
    v.started.title = fullTime(job.startTime);
    const p = percent(job.progress);
    if (v.bar.getAttribute("aria-valuenow") !== String(p)) {
      v.bar.setAttribute("aria-valuenow", String(p));
      v.bar.setAttribute("aria-valuetext", `${p}%`);
      v.fill.style.width = `${p}%`;
      setText(v.pct, `${p}%`);
    }
    setText(v.op, operationText(job.currentOperation));
    tickActive(v, job, now);
    const aborting = job.status === "aborting";
    v.root.classList.toggle("is-aborting", aborting);
    v.abortingNote.hidden = !aborting;
    if (aborting) {
      setText(v.abortingNote, `Abort requested${job.abortRequestedTime ? ` at ${localTime(job.abortRequestedTime)}` : ""}`
        + `${job.abortReason ? ` (${job.abortReason})` : ""}: waiting for the pipeline to stop at its next check.`);
    }
    v.abort.disabled = aborting;
    setText(v.abort, aborting ? "Aborting…" : "Abort");
    renderPanels(v.panels);
    setText(v.total, String(panelTotal(v.panels)));
  }

  function tickActive(v, job, now) {
    setText(v.elapsed, duration((now - ms(job.startTime)) / 1000));
    setText(v.eta, eta(job, now));
  }

  function createPastView(job) {
    const root = $("#tpl-past").content.firstElementChild.cloneNode(true);
    root.dataset.jobId = job.id;
    const v = {
      id: job.id, root, details: $(".past-job", root),
      badge: $(".badge", root), idEl: $(".job-id", root),
      ended: $(".job-ended", root), dur: $(".job-duration", root), error: $(".past-error", root),
      meta: $(".past-meta", root), panelsHost: $(".msg-panels", root), panels: null,
    };
    v.details.addEventListener("toggle", () => {
      if (v.details.open) openPast(v);
    });
    return v;
  }

  function patchPast(v, job) {
    if (!v) return;
    badge(v.badge, job.status);
    setText(v.idEl, shortId(job.id));
    v.idEl.title = job.id;
    setText(v.ended, job.endTime ? `ended ${localTime(job.endTime)}` : "");
    v.ended.title = fullTime(job.endTime);
    setText(v.dur, duration((ms(job.endTime) - ms(job.startTime)) / 1000));
    let why = "";
    if (job.status === "failed") why = job.lastError || "";
    else if (job.status === "aborted") why = job.abortReason ? `Reason: ${job.abortReason}` : "";
    setText(v.error, why);
    v.error.title = why;
    v.error.hidden = !why;
    if (v.details.open) {
      setText(v.meta, pastMeta(job));
      if (v.panels) renderPanels(v.panels);
    }
  }

  function pastMeta(job) {
    const parts = [`Job ${job.id}`, job.author ? `by ${job.author}` : "", `started ${fullTime(job.startTime)}`]
      .filter(Boolean);
    if (job.endTime) parts.push(`ended ${fullTime(job.endTime)}`);
    if (job.params && Object.keys(job.params).length) parts.push(`params ${JSON.stringify(job.params)}`);
    if (job.result !== null && job.result !== undefined) parts.push(`result ${JSON.stringify(job.result)}`);
    return parts.join(" · ");
  }

  async function openPast(v) {
    const job = state.jobs.get(v.id);
    if (!job) return;
    setText(v.meta, pastMeta(job));
    if (!v.panels) v.panels = createPanels(v.panelsHost, v.id);
    const log = logOf(v.id);
    if (!log.complete) {
      v.panelsHost.setAttribute("aria-busy", "true");
      v.panels.loading = true;
      renderPanels(v.panels);
      if (!log.loading) {
        log.loading = api(`/single/${encodeURIComponent(v.id)}/progress?messages=all`)
          .then(({ data }) => {
            log.addJob(data);
            log.complete = true;
          })
          .catch(showError)
          .finally(() => { log.loading = null; });
      }
      await log.loading;
      v.panels.loading = false;
      v.panelsHost.setAttribute("aria-busy", "false");
    }
    renderPanels(v.panels);
  }

  /* -------------------------------------------------- message panels */

  function createPanels(host, jobId) {
    host.appendChild($("#tpl-panels").content.cloneNode(true));
    const make = (cls, kind, label) => {
      const root = $(cls, host);
      const scroll = $(".msg-scroll", root);
      scroll.setAttribute("role", "region");
      scroll.setAttribute("aria-label", `${label} of job ${shortId(jobId)}`);
      const panel = {
        kind, root, list: $(".msg-list", root), count: $(".msg-count", root), more: $(".msg-more", root),
        rendered: 0, cap: MSG_RENDER_CAP,
      };
      panel.more.addEventListener("click", (e) => {
        if (e.target.closest("button")) {
          panel.cap += MSG_RENDER_CAP;
          panel.rendered = -1;   // full render
          touchJob(jobId);
        }
      });
      return panel;
    };
    return {
      jobId, loading: false,
      problems: make(".panel-problems", "problems", "Warnings and errors"),
      info: make(".panel-info", "info", "Info messages"),
    };
  }

  function panelTotal(panels) {
    const log = state.logs.get(panels.jobId);
    return log ? log.problems.base + log.problems.items.length + log.info.base + log.info.items.length : 0;
  }

  function renderPanels(panels) {
    const log = logOf(panels.jobId);
    for (const kind of ["problems", "info"]) renderPanel(panels[kind], log[kind], panels.loading);
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
      kind.textContent = m.type === "error" ? "Error" : "Warning";
      li.appendChild(kind);
    }
    const text = document.createElement("span");
    text.className = "msg-text";
    text.textContent = m.text;
    li.appendChild(text);
    return li;
  }

  /** Newest first; appends only messages not rendered yet and trims the oldest past the cap. */
  function renderPanel(panel, list, loading) {
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
      setText(panel.more, "Loading messages…");
    } else if (total === 0) {
      panel.more.hidden = false;
      setText(panel.more, panel.kind === "problems" ? "No warnings or errors." : "No messages.");
    } else if (hiddenOlder > 0 && list.items.length > panel.list.childElementCount) {
      panel.more.hidden = false;
      panel.more.textContent = `Showing the newest ${panel.list.childElementCount} of ${total}. `;
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "btn btn-ghost btn-small";
      btn.textContent = "Show older";
      panel.more.appendChild(btn);
    } else {
      panel.more.hidden = true;
    }
  }

  /* --------------------------------------------------------- actions */

  async function abortJob(id) {
    const job = state.jobs.get(id);
    if (!job || !isActive(job)) return;
    const title = typeInfo(job.jobType).title || job.jobType;
    const { confirmed, reason } = await confirmAction({
      title: "Abort this job?",
      body: `Job ${shortId(id)} (${title}) stops at its next abort check; what it has written so far stays.`,
      ok: "Abort job",
    });
    if (!confirmed) return;
    try {
      await api(`/single/${encodeURIComponent(id)}/abort`, { body: reason ? { reason } : {} });
      notify(`Abort requested for job ${shortId(id)}.`);
    } catch (err) {
      showError(err);
    }
  }

  async function abortAll() {
    const n = [...state.jobs.values()].filter((j) => j.status === "running").length;
    const { confirmed, reason } = await confirmAction({
      title: "Emergency cleanup",
      body: n
        ? `Request an abort of all ${n} running job${n === 1 ? "" : "s"} of every type? Each stops at its next abort check.`
        : "No job is running right now. Request an abort of any job that is still active on the server?",
      ok: "Abort all jobs",
    });
    if (!confirmed) return;
    try {
      const { data } = await api("/abort-all", { body: { reason: reason || "emergency cleanup" } });
      const count = data && typeof data.targetedJobs === "number" ? data.targetedJobs : 0;
      notify(`Emergency cleanup: abort requested for ${count} job${count === 1 ? "" : "s"}.`);
    } catch (err) {
      showError(err);
    }
  }

  $("#abort-all").addEventListener("click", abortAll);

  $("#logout").addEventListener("click", async () => {
    try {
      await fetch("logout", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: "{}",
      });
    } finally {
      window.location.assign("./");
    }
  });

  $("#past-filter").addEventListener("change", (e) => {
    if (e.target.name !== "past-status") return;
    state.filter = e.target.value;
    for (const view of typeViews.values()) view.pastLimit = PAST_PAGE;
    dirty.allPast = true;
    schedule();
  });

  /* ------------------------------------------------------------ flush */

  function renderStats() {
    const s = state.stats;
    if (!s) return;
    const active = s.active ?? (s.running || 0) + (s.aborting || 0);
    setText($("#stat-active"), String(active));
    setText($("#stat-active-sub"), `${s.running || 0} running · ${s.aborting || 0} aborting`);
    setText($("#stat-completed"), String(s.completed || 0));
    setText($("#stat-failed"), String(s.failed || 0));
    setText($("#stat-aborted"), String(s.aborted || 0));
  }

  function flush() {
    scheduled = false;
    if (!state.loaded) return;
    if (dirty.allPast) {
      dirty.allPast = false;
      for (const type of typeViews.keys()) dirty.types.add(type);
    }
    const newTypes = [...dirty.types].filter((t) => !typeViews.has(t));
    if (newTypes.length) buildTypeCards();
    for (const type of dirty.types) {
      const view = typeViews.get(type);
      if (view) renderType(view);
    }
    dirty.types.clear();
    const now = Date.now();
    for (const id of dirty.jobs) {
      const job = state.jobs.get(id);
      if (!job) continue;
      const view = typeViews.get(job.jobType);
      if (!view) continue;
      const av = view.activeViews.get(id);
      if (av) patchActive(av, job, now);
      else patchPast(view.pastViews.get(id), job);
    }
    dirty.jobs.clear();
    if (dirty.stats) {
      dirty.stats = false;
      renderStats();
    }
  }

  // Elapsed time and the estimate move with the clock, not with events.
  setInterval(() => {
    if (document.hidden) return;
    const now = Date.now();
    for (const view of typeViews.values()) {
      for (const [id, av] of view.activeViews) {
        const job = state.jobs.get(id);
        if (job) tickActive(av, job, now);
      }
    }
  }, 1000);

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule();
  });

  /* ------------------------------------------------------------ start */

  connect();
  loadAll().catch((err) => {
    if (state.authLost) return;
    showError(err);
    setText($("#types-loading") || document.createElement("p"), "Could not load jobs; retrying…");
    // Keep trying: the stream's reconnect loop or this retry brings the page up once the server answers.
    const retry = setInterval(() => {
      if (state.loaded || state.authLost) {
        clearInterval(retry);
        return;
      }
      loadAll().then(() => clearInterval(retry), () => {});
    }, 3000);
  });
})();
