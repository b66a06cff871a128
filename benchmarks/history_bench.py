"""Issue 11: a long history costs nothing. Each store is pre-filled with 1,000 past jobs x 2,000 messages and,
as the baseline of the same run, 1,000 past jobs with no messages (``benchmarks.history_server``, two real uvicorn
processes side by side, requests alternating between them; their answer caches are off so every request reads the
store). Then:

- ``GET /past?limit=50&messages=none``, ``?limit=50&messages=last:3``, ``/single/{id}/progress?messages=last:20``,
  ``/stats``, ``/active``, ``/past/summary``: median time with the full history / with empty jobs (target <= 2x).
  The page requests walk the history with the ``before`` cursor and the single-job requests cycle through jobs,
  so that no two successive requests are the same.
- walking all 1,000 past jobs 50 at a time (``messages=none``): last page / first page (target <= 1.5x).
- a running job's ``progress()`` + ``info()`` p99 while 8 clients pull ``/past`` pages continuously, against its
  p99 with no readers (target <= 2x). The job runs in the server process, as under ``jobdeck serve``; on the
  shared stores also in a process of its own (a worker), which isolates what the store does from what sharing one
  interpreter (and two cores) with the readers' requests does. Beside the call latencies: the pages per second
  the readers got, and the job's pace (pairs made) against its pace alone, with how late its thread woke from
  each pause: the time it waited for a core or the interpreter lock, which slows a job without showing in its
  calls.
- the server's RSS while one client streams ``/past`` (no limit, every message: the reference's query) of 100 and
  of 1,000 jobs: the growth from 100 to 1,000 jobs (target: flat, < 50 MB).
- on SQLite, the dashboard in headless Chromium: time from navigation start to the first cards and counts, by
  the page's own clock (< 1 s).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .http_bench import free_port
from .stores import STORE_KINDS, target, unavailable
from .table import Row, ms, ratio, skipped
from .timing import rss_mb

SECTION = "history"
TOKEN = "bench-token-history"
PREFIX = "/api/admin/jobs"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
READERS = 8


@contextlib.contextmanager
def history_servers(*specs: tuple[str, int, int]) -> Iterator[list[tuple[str, int]]]:
    """``python -m benchmarks.history_server`` per (store URL, jobs, messages), all started at once so that they
    fill their stores side by side; yields their (base URL, pid) once every one answers."""
    import subprocess
    import urllib.request

    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for url, jobs, messages in specs:
            port = free_port()
            procs.append((subprocess.Popen(
                [sys.executable, "-m", "benchmarks.history_server", "--port", str(port), "--store", url,
                 "--token", TOKEN, "--jobs", str(jobs), "--messages", str(messages)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 600
        for proc, base in procs:
            while True:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace")[-800:] if proc.stderr else ""
                    raise RuntimeError(f"history server exited: {err}")
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("history server did not answer within 600 s") from None
                    time.sleep(0.2)
        yield [(base, proc.pid) for proc, base in procs]
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()


def _client(base: str) -> Any:
    import httpx

    return httpx.Client(base_url=base + PREFIX, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)


def _walk(client: Any, size: int, messages: str) -> tuple[list[float], list[str]]:
    """Seconds per page and the cursors, walking every past job ``size`` at a time."""
    times, cursors = [], []
    params: dict[str, str] = {"limit": str(size), "messages": messages}
    while True:
        t0 = time.perf_counter()
        response = client.get("/past", params=params)
        times.append(time.perf_counter() - t0)
        response.raise_for_status()
        following = response.headers.get("X-Jobdeck-Next")
        if following is None:
            return times, cursors
        cursors.append(following)
        params["before"] = following


def _paths(client: Any) -> dict[str, list[str]]:
    """Request paths per measured endpoint: page requests along the cursor walk, single jobs cycled."""
    _, cursors = _walk(client, 50, "none")
    ids = [j["id"] for j in client.get("/past", params={"limit": "200", "messages": "none"}).json()]
    pages = ["/past?limit=50&messages=none"] + [f"/past?limit=50&messages=none&before={c}" for c in cursors]
    return {"past none": pages, "past last:3": [p.replace("messages=none", "messages=last:3") for p in pages],
            "single last:20": [f"/single/{i}/progress?messages=last:20" for i in ids],
            "stats": ["/stats"], "active": ["/active"], "summary": ["/past/summary"]}


def _timed(client: Any, path: str) -> float:
    t0 = time.perf_counter()
    client.get(path).raise_for_status()
    return time.perf_counter() - t0


def measure_reads(empty_base: str, full_base: str, repeats: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Endpoint medians and the page walk on both servers, requests alternating between them so that the
    machine's noise falls on both alike."""
    empty: dict[str, Any] = {}
    full: dict[str, Any] = {}
    with _client(empty_base) as e_client, _client(full_base) as f_client:
        e_paths, f_paths = _paths(e_client), _paths(f_client)
        for name in e_paths:
            e_samples, f_samples = [], []
            for i in range(repeats):
                e_samples.append(_timed(e_client, e_paths[name][i % len(e_paths[name])]))
                f_samples.append(_timed(f_client, f_paths[name][i % len(f_paths[name])]))
            empty[name], full[name] = statistics.median(e_samples), statistics.median(f_samples)
        empty["walks"], full["walks"] = [], []
        for _ in range(5):
            for out, client in ((empty, e_client), (full, f_client)):
                out["walks"].append(_walk(client, 50, "none")[0])
        for out in (empty, full):
            walks = out.pop("walks")
            out["first page"] = statistics.median(w[0] for w in walks)
            out["last page"] = statistics.median(w[-1] if len(w) > 1 else w[0] for w in walks)
            out["pages"] = len(walks[0])
    return empty, full


def _probe(client: Any, seconds: float) -> dict[str, float]:
    job = client.post("/start", json={"jobType": "history-probe", "params": {"seconds": seconds}}).json()
    deadline = time.monotonic() + seconds + 60
    while time.monotonic() < deadline:
        state = client.get(f"/single/{job['id']}/progress?messages=none").json()
        if state["status"] != "running":
            if state["status"] != "completed":
                raise RuntimeError(f"the probe job ended {state['status']}")
            result: dict[str, float] = state["result"]
            return result
        time.sleep(0.2)
    raise RuntimeError("the probe job did not end")


def _probe_elsewhere(url: str, seconds: float) -> dict[str, float]:
    """The probe job run by a process of its own on the same store (SQLite, Redis, PostgreSQL)."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-m", "benchmarks.history_server", "--store", url, "--probe",
                          str(seconds)], cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_stall(base: str, seconds: float, url: str | None = None,
                  ) -> tuple[dict[str, float], dict[str, float], float]:
    """The probe's figures (see ``history_server.probe``) with no readers, then with READERS clients walking
    /past pages; the pages the readers read per second meanwhile. The probe job runs in the server (``url``
    None) or in a process of its own on the store at ``url``."""
    run_probe = (lambda client: _probe(client, seconds)) if url is None else (
        lambda client: _probe_elsewhere(url, seconds))
    with _client(base) as client:
        quiet = run_probe(client)
        stop = threading.Event()
        pages = [0] * READERS

        def reader(n: int) -> None:
            with _client(base) as own:
                while not stop.is_set():
                    params = {"limit": "50", "messages": "last:3"}
                    while not stop.is_set():
                        response = own.get("/past", params=params)
                        pages[n] += 1
                        following = response.headers.get("X-Jobdeck-Next")
                        if following is None:
                            break
                        params["before"] = following

        threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(READERS)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)  # the readers are all going before the probe starts
            read_before, t0 = sum(pages), time.perf_counter()
            busy = run_probe(client)
            rate = (sum(pages) - read_before) / (time.perf_counter() - t0)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
    return quiet, busy, rate


def measure_stream_rss(base: str, pid: int) -> dict[str, float]:
    """Peak server RSS (MB) while streaming the unlimited, all-messages answer of 100 and of 1,000 jobs."""
    out: dict[str, float] = {"idle": rss_mb(pid)}
    with _client(base) as client:
        for label, params in (("100", {"jobType": "history-small"}), ("1000", {})):
            peak = rss_mb(pid)
            size = count = 0
            with client.stream("GET", "/past", params=params) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    count += 1
                    if count % 16 == 0:
                        peak = max(peak, rss_mb(pid))
            out[label] = max(peak, rss_mb(pid))
            out[f"{label} MB sent"] = size / 1e6
    return out


# Records, in the page, when the first past-job line and a number in the Completed count are in the DOM.
_MARKS = """
window.__jobdeckMarks = {};
new MutationObserver(() => {
  const marks = window.__jobdeckMarks;
  if (!marks.cards && document.querySelector('li.past-item')) marks.cards = performance.now();
  const completed = document.querySelector('#stat-completed');
  if (!marks.counts && completed && /^[0-9]+$/.test(completed.textContent.trim())) marks.counts = performance.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def measure_dashboard(base: str, repeats: int = 5) -> float:
    """Median seconds from navigation start to the first type cards with past jobs and the counts, in Chromium:
    the page's own clock (``performance.now()`` when the DOM first holds both), not the time the test driver
    takes to notice."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            for _ in range(repeats + 1):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(f"{base}/?token={TOKEN}")  # sets the cookie; the timed load is the next one
                page.wait_for_selector("li.past-item", state="attached", timeout=60_000)
                page.add_init_script(_MARKS)
                page.goto(base + "/")
                page.wait_for_function("window.__jobdeckMarks.cards && window.__jobdeckMarks.counts", timeout=60_000)
                marks = page.evaluate("window.__jobdeckMarks")
                times.append(max(marks["cards"], marks["counts"]) / 1000)
                context.close()
        finally:
            browser.close()
    return statistics.median(times[1:])  # the first load warms the browser's caches and the server


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    jobs, messages = (200, 500) if quick else (1000, 2000)
    repeats = 15 if quick else 40
    for kind in ("memory",) if quick else (*STORE_KINDS, "postgres"):
        why = _pg_unavailable() if kind == "postgres" else unavailable(kind)
        if why:
            rows.append(skipped(SECTION, f"{kind}: history reads", why))
            continue
        try:
            rows.extend(_run_store(kind, jobs, messages, repeats, quick))
        except Exception as exc:
            rows.append(Row(SECTION, f"{kind}: history reads", passed=False,
                            note=f"error: {type(exc).__name__}: {exc}"))
    return rows


def _pg_unavailable() -> str | None:
    try:
        from .pg_bench import _unavailable
    except ImportError as exc:
        return f"PostgreSQL store not available ({exc})"
    return _unavailable()


@contextlib.contextmanager
def _location(kind: str) -> Iterator[str]:
    """A fresh, empty store URL of ``kind``; removed afterwards."""
    if kind == "postgres":
        from .pg_bench import database

        with database() as url:
            yield url
        return
    with target(kind) as tgt:
        yield tgt.command_line_url()


def _run_store(kind: str, jobs: int, messages: int, repeats: int, quick: bool) -> list[Row]:
    dashboard: float | str | None = None
    with (_location(kind) as empty_url, _location(kind) as url,
          history_servers((empty_url, jobs, 0), (url, jobs, messages)) as [(empty_base, _), (base, pid)]):
        empty, full = measure_reads(empty_base, base, repeats)
        quiet, busy, pages = measure_stall(base, 2.0 if quick else 4.0)
        apart = None if kind == "memory" else measure_stall(base, 2.0 if quick else 4.0, url)
        rss = measure_stream_rss(base, pid)
        if kind == "sqlite" and Path(CHROMIUM).exists():
            try:
                dashboard = measure_dashboard(base)
            except Exception as exc:  # the other figures stand without it
                dashboard = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    rows = []
    history = f"{jobs} jobs x {messages} msgs"
    for name, label in (("past none", "GET /past?limit=50&messages=none"),
                        ("past last:3", "GET /past?limit=50&messages=last:3"),
                        ("single last:20", "GET /single/{id}/progress?messages=last:20"),
                        ("stats", "GET /stats"), ("active", "GET /active"),
                        ("summary", "GET /past/summary (20 newest per type)")):
        r = full[name] / empty[name]
        rows.append(Row(SECTION, f"{kind}: {label}, {history} vs 0 msgs", ms(full[name]), ms(empty[name]),
                        ratio(full[name], empty[name]), "<= 2x", r <= 2.0, values={"full": full[name],
                                                                                     "empty": empty[name]}))
    r = full["last page"] / full["first page"]
    rows.append(Row(SECTION, f"{kind}: walk {jobs} past jobs 50 a page ({full['pages']} pages): last vs first page",
                    ms(full["last page"]), ms(full["first page"]), ratio(full["last page"], full["first page"]),
                    "<= 1.5x", r <= 1.5, values={"last": full["last page"], "first": full["first page"]}))
    rows.append(_stall_row(f"{kind}: running job progress()+info() p99, {READERS} clients pulling /past pages "
                           "vs none", quiet, busy, pages))
    if apart is not None:
        rows.append(_stall_row(f"{kind}: the same, the job in a process of its own on the store", *apart))
    growth = rss["1000"] - rss["100"]
    rows.append(Row(SECTION, f"{kind}: server RSS streaming /past (all messages) of {jobs} vs 100 jobs "
                             f"({rss['1000 MB sent']:.0f} vs {rss['100 MB sent']:.0f} MB sent)",
                    f"{rss['1000']:.0f} MB", f"{rss['100']:.0f} MB", f"+{growth:.0f} MB", "growth < 50 MB",
                    growth < 50, note=f"idle {rss['idle']:.0f} MB", values=rss))
    if isinstance(dashboard, str):
        rows.append(Row(SECTION, f"{kind}: dashboard first cards and counts, headless Chromium, {history}",
                        passed=False, note=f"error: {dashboard}"))
    elif dashboard is not None:
        rows.append(Row(SECTION, f"{kind}: dashboard first cards and counts, headless Chromium, {history}",
                        ms(dashboard), "", "", "< 1 s", dashboard < 1.0, values={"seconds": dashboard}))
    return rows


def _stall_row(label: str, quiet: dict[str, float], busy: dict[str, float], pages: float) -> Row:
    r = busy["p99"] / quiet["p99"]
    return Row(SECTION, label, ms(busy["p99"]), ms(quiet["p99"]), ratio(busy["p99"], quiet["p99"]), "<= 2x", r <= 2.0,
               note=(f"p50 {ms(busy['p50'])} vs {ms(quiet['p50'])}; readers {pages:.0f} pages/s; the job's pace "
                     f"{busy['n'] / quiet['n']:.0%} of its pace alone (woke late by {ms(busy['late99'])} p99, "
                     f"{ms(quiet['late99'])} alone)"),
               values={"busy": busy, "quiet": quiet, "pages_per_s": pages})
