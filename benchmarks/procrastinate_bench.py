"""procrastinate section: jobdeck on procrastinate's workers beside raw procrastinate, measured in the same run.

- Dispatch latency, ``POST /start`` -> handler running (a real ``jobdeck serve`` and two ``jobdeck worker``
  processes, SQLite store), p50/p99, beside raw procrastinate ``defer`` -> task running (two plain procrastinate
  workers, same concurrency and LISTEN/NOTIFY settings). Target: jobdeck within 1.5x of raw at p50.
- Throughput of 200 short jobs through the two workers: jobdeck (every job ``completed`` in the store) beside
  raw (every entry ``succeeded``).
- ``progress()`` and ``info()`` cost per call inside a worker, beside the same handler in a local runner (the
  stores' coalescing applies in both).

Both run side by side on one database (jobdeck on queue ``jobdeck``, raw on ``bench-raw``) and their samples are
interleaved, so that the load of a shared machine weighs on both alike. Each handler appends the time it ran to a
file; latency is that time minus the time just before the submit.
Needs PostgreSQL (``DATABASE_URL`` or 127.0.0.1:5432); a fresh database is created and dropped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .procrastinate_jobs import PROBE, RAW_TASK, TICKER
from .table import Row, ms, ratio, skipped
from .timing import percentile

SECTION = "procrastinate"
TOKEN = "bench-procrastinate"
WORKERS = 2


def _admin_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _unavailable() -> str | None:
    try:
        import procrastinate  # noqa: F401
        import psycopg
    except ImportError as exc:
        return f"{exc.name} not installed (pip install 'jobdeck[procrastinate]')"
    try:
        with psycopg.connect(_admin_url(), connect_timeout=2):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable at {_admin_url()}: {str(exc).strip().splitlines()[0]}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _lines(path: Path) -> list[float]:
    try:
        return [float(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


def _wait(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.0005) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class _Processes:
    """Subprocesses with logs in one folder; all killed on exit."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.procs = folder, env, []  # type: ignore[var-annotated]

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _workers_registered(dsn: str, count: int) -> bool:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    return row is not None and row[0] >= count


def _succeeded(dsn: str, task: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND status = 'succeeded'",
                           (task,)).fetchone()
    return int(row[0]) if row else 0


def _answers(client: Any) -> bool:
    import httpx

    try:
        return bool(client.get("/types").status_code == 200)
    except httpx.TransportError:
        return False


class _Deck:
    """jobdeck (a server, two workers, running ``app``'s job types) and raw procrastinate (two workers, queue
    ``bench-raw``) on one database."""

    def __init__(self, tmp: Path, dsn: str, app: str = "benchmarks.procrastinate_jobs:build") -> None:
        import httpx
        import psycopg_pool

        from jobdeck.stores.sqlite import SQLiteStore

        from .procrastinate_jobs import raw_app

        self.tmp, self.dsn = tmp, dsn
        executor = f"procrastinate+{dsn}"
        store_url = f"sqlite:///{tmp / 'jobs.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
        env.update(PYTHONUNBUFFERED="1")
        port = _free_port()
        self.procs = _Processes(tmp, env)
        self.procs.spawn("server", "-m", "jobdeck.cli", "serve", "--app", app, "--store", store_url,
                         "--executor", executor, "--port", str(port), "--token", TOKEN, "--log-level", "warning")
        for i in range(WORKERS):
            self.procs.spawn(f"worker{i}", "-m", "jobdeck.cli", "worker", "--app", app, "--store", store_url,
                             "--executor", executor, "--concurrency", "1", "--log-level", "warning")
            self.procs.spawn(f"raw{i}", "-m", "benchmarks.procrastinate_jobs", "raw-worker", dsn)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/admin/jobs",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        self.pool = psycopg_pool.ConnectionPool(dsn, min_size=1, max_size=4, open=False)
        self.raw = raw_app(dsn)
        self.store = None
        try:
            _wait(lambda: _answers(self.client), 60, "jobdeck serve", interval=0.05)
            _wait(lambda: _workers_registered(dsn, 2 * WORKERS), 60, "the workers", interval=0.05)
            self.store = SQLiteStore.from_url(store_url)
            self.pool.open(wait=True)
            self.raw.open(self.pool)
        except BaseException:
            self.close()
            raise
        self.raw_task = self.raw.tasks[RAW_TASK]

    def close(self) -> None:
        self.procs.close()
        self.client.close()
        if self.store is not None:
            self.store.close()
        self.raw.close()
        self.pool.close()

    def start(self, marker: Path) -> str:
        answer = self.client.post("/start", json={"jobType": PROBE, "params": {"marker": str(marker)}})
        answer.raise_for_status()
        job_id: str = answer.json()["id"]
        return job_id

    def defer(self, marker: Path) -> None:
        self.raw_task.defer(marker=str(marker))

    def ended(self, job_id: str) -> bool:
        assert self.store is not None
        return not self.store.require_job(job_id, messages=False).is_active

    def latency(self, name: str, submit: Callable[[Path], Any], settled: Callable[[Any], bool], i: int) -> float:
        """Submit one probe; seconds until its handler ran (then wait for its job to end)."""
        marker = self.tmp / f"{name}-latency"
        sent = time.time()
        handle = submit(marker)
        # The handler's own clock gives the latency; polling every 2 ms (not 0.5) leaves the measured processes
        # the two cores instead of spinning on one of them.
        ran: float = _wait(lambda: len(_lines(marker)) > i and _lines(marker)[i], 30, f"the {name} handler",
                           interval=0.002)
        _wait(lambda: settled(handle), 30, f"the {name} job to end", interval=0.002)
        return ran - sent

    def writes(self, params: dict[str, int]) -> dict[str, dict[str, float]]:
        """progress()/info() cost per call inside a worker, beside the same handler in a local runner."""
        job_id = self.client.post("/start", json={"jobType": TICKER, "params": params}).json()["id"]
        _wait(lambda: self.ended(job_id), 300, "the ticker job", interval=0.05)
        assert self.store is not None
        worker: dict[str, float] = self.store.require_job(job_id, messages=False).result
        return {"worker": worker, "local": _local_writes(self.tmp, params)}

    def burst(self, name: str, submit: Callable[[Path], Any], count: int, done: Callable[[list[Any]], bool]) -> float:
        """Seconds to submit ``count`` probes from four threads and see every one end."""
        from concurrent.futures import ThreadPoolExecutor

        marker = self.tmp / f"{name}-burst-{time.monotonic_ns()}"
        began = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            handles = list(pool.map(lambda _: submit(marker), range(count)))
        _wait(lambda: done(handles), 300, f"the {name} burst", interval=0.01)
        return time.perf_counter() - began


def _local_writes(tmp: Path, params: dict[str, int]) -> dict[str, float]:
    """The ticker in a local runner of this process, on a SQLite file of its own: the in-server cost."""
    from jobdeck.stores.sqlite import SQLiteStore

    from .procrastinate_jobs import build

    store = SQLiteStore(tmp / "local.db")
    runner = build(store)
    try:
        job = runner.start(TICKER, "bench", params)
        result: dict[str, float] = runner.wait(job.id, timeout=300).result
        return result
    finally:
        runner.shutdown(1)
        store.close()


def _measure(tmp: Path, dsn: str, latency_n: int, burst: int, rounds: int) -> dict[str, Any]:
    deck = _Deck(tmp, dsn)
    try:
        jd: list[float] = []
        raw: list[float] = []
        for i in range(latency_n + 3):  # interleaved; the first few warm connections and imports up
            target = _succeeded(dsn, RAW_TASK) + 1
            raw_lat = deck.latency("raw", deck.defer, lambda _h, t=target: _succeeded(dsn, RAW_TASK) >= t, i)
            jd_lat = deck.latency("jobdeck", deck.start, deck.ended, i)
            if i >= 3:
                raw.append(raw_lat)
                jd.append(jd_lat)
        jd_burst, raw_burst = [], []
        for _ in range(rounds):
            target = _succeeded(dsn, RAW_TASK) + burst
            raw_burst.append(deck.burst("raw", deck.defer, burst, lambda _h, t=target: _succeeded(dsn, RAW_TASK) >= t))
            jd_burst.append(deck.burst("jobdeck", deck.start, burst, lambda ids: all(deck.ended(j) for j in ids)))
        writes = deck.writes({"progress": 5_000, "messages": 1_000} if burst < 200 else
                             {"progress": 20_000, "messages": 5_000})
        return {"jobdeck": jd, "raw": raw, "jobdeck_burst": min(jd_burst), "raw_burst": min(raw_burst),
                "writes": writes}
    finally:
        deck.close()


def run(quick: bool) -> list[Row]:
    why = _unavailable()
    if why:
        return [skipped(SECTION, "dispatch latency and throughput", why)]
    import psycopg
    from procrastinate.schema import SchemaManager

    latency_n, burst, rounds = (20, 50, 1) if quick else (100, 1000, 2)
    name = f"jobdeck_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin_url()
    parts = urlsplit(admin)
    dsn = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory(prefix="jobdeck-bench-procr-") as folder:
            found = _measure(Path(folder), dsn, latency_n, burst, rounds)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rows = []
    for pct in (50, 99):
        jd, raw = percentile(found["jobdeck"], pct), percentile(found["raw"], pct)
        rows.append(Row(SECTION, f"dispatch p{pct}: POST /start -> handler (raw: defer -> task)", ms(jd), ms(raw),
                        ratio(jd, raw), "<= 1.5x", jd <= 1.5 * raw,
                        note=f"{len(found['jobdeck'])} jobs one at a time, interleaved with raw; 2 workers each",
                        values={"jobdeck_s": jd, "raw_s": raw}))
    jd_s, raw_s = found["jobdeck_burst"], found["raw_burst"]
    rows.append(Row(SECTION, f"throughput: {burst} short jobs through 2 workers", f"{burst / jd_s:.0f} jobs/s",
                    f"{burst / raw_s:.0f} jobs/s", ratio(raw_s, jd_s), ">= 0.8x", raw_s >= 0.8 * jd_s,
                    note=("submitted from 4 threads, until every job ended; ratio = jobdeck/raw rate; fails when the "
                          "store's writes per job hold a worker longer than a quarter of the task itself"),
                    values={"jobdeck_s": jd_s, "raw_s": raw_s, "jobs": burst}))
    worker, local = found["writes"]["worker"], found["writes"]["local"]
    for what, key in (("progress()", "progress_s"), ("info() message", "message_s")):
        rows.append(Row(SECTION, f"{what} per call inside a procrastinate worker (SQLite store)",
                        f"{worker[key] * 1e6:.2f} us", f"{local[key] * 1e6:.2f} us in-process runner",
                        ratio(worker[key], local[key]), "(context: same as in the server)",
                        values={"worker_s": worker[key], "local_s": local[key]}))
    return rows
