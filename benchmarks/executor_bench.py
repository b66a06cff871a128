"""Executor section: jobs queued on Celery and run by ``jobdeck worker`` processes, beside raw Celery in the same
run, on the same private Redis broker, with the same worker settings (thread pool, one job per worker,
prefetch multiplier 1, late acks, fair scheduling), on the SQLite, Redis and (where a server answers) PostgreSQL
stores.

- dispatch latency: client about to ``POST /start`` -> handler's first line (p50/p99), beside the same HTTP hop in
  front of raw Celery (a bare Starlette endpoint calling ``send_task``); in-process ``runner.start()`` beside
  ``send_task``; both <= 1.25x at p50.
- throughput: 1,000 short jobs (60 with --quick) through two workers, started from four client threads, as two
  like-for-like pairs: ``POST /start`` beside ``POST`` to the bare endpoint, and ``runner.start()`` beside
  ``send_task``; both >= 0.8x the raw rate. The full run repeats both pairs with RabbitMQ as the broker
  (``JOBDECK_BENCH_AMQP``, by default guest on 127.0.0.1:5672; queues of the run's own) on the SQLite store.
- progress and message cost inside a worker, beside the same handler run by a local runner on the same kind of
  store (the stores' coalescing applies in both).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from .pg_bench import _unavailable as pg_unavailable
from .pg_bench import database as pg_database
from .table import Row, skipped
from .timing import percentile

SECTION = "executor"
ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
READY = " ready"  # jobdeck worker's own line, and Celery's "ready." at INFO


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


class _Procs:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        self.procs.append((proc, log))
        return proc, log

    def ready(self, log: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited:\n{log.read_text(errors='replace')[-2000:]}")
            return READY in log.read_text(errors="replace")

        _wait(up, timeout, f"{log.name} to be ready")

    def close(self) -> None:
        for proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run(quick: bool) -> list[Row]:
    try:
        import celery  # noqa: F401
        import redis
    except ImportError as exc:
        return [Row(SECTION, "(section)", note=f"skipped: {exc} (pip install 'jobdeck[celery]')")]
    binary = shutil.which("redis-server")
    if binary is None:
        return [Row(SECTION, "(section)", note="skipped: no redis-server for a private broker")]
    from jobdeck import JobRunner
    from jobdeck.stores import open_store
    from jobdeck.stores.sqlite import SQLiteStore

    from .executor_jobs import build

    tmp = Path(tempfile.mkdtemp(prefix="jobdeck-exec-bench-"))
    procs = _Procs(tmp)
    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env.update(JOBDECK_BENCH_BROKER=broker, PYTHONPATH=str(ROOT))
    # The store a real deployment shares between its server and workers: a SQLite file on one machine, Redis
    # across machines (here a database of the same private redis-server as the broker).
    stores = [("SQLite", f"sqlite:///{tmp / 'jobs.db'}"), ("Redis", f"redis://127.0.0.1:{port}/1")]
    rows: list[Row] = []
    postgres = contextlib.ExitStack()
    if quick:  # a third deployment costs ~5 s of the quick suite's two minutes
        rows.append(skipped(SECTION, "Celery on the PostgreSQL store", "full run only"))
    elif pg_unavailable() is None:  # and PostgreSQL, where a server answers: a database of its own for this run
        stores.append(("PostgreSQL", postgres.enter_context(pg_database())))
    else:
        rows.append(skipped(SECTION, "Celery on the PostgreSQL store", pg_unavailable() or ""))
    try:
        procs.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                              "no"], env)
        client = redis.Redis.from_url(broker)
        _wait(lambda: _ping(client), 10, "the broker")
        raws = [procs.start(f"raw{i}", [
            sys.executable, "-m", "celery", "-A", "benchmarks.executor_jobs:app", "worker", "--pool", "threads",
            "-c", "1", "--prefetch-multiplier", "1", "-O", "fair", "-Q", "raw-bench", "--without-gossip",
            "--without-mingle", "-n", f"raw{i}@%h", "-l", "INFO"], env) for i in range(2)]
        for proc, log in raws:
            procs.ready(log, proc)
        from .executor_jobs import raw_app

        os.environ["JOBDECK_BENCH_BROKER"] = broker
        raw = raw_app()
        web_port = _free_port()
        procs.start("raw-web", [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.executor_jobs:web_app",
                                "--host", "127.0.0.1", "--port", str(web_port), "--log-level", "warning",
                                "--no-access-log"], env)
        web = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30)
        _wait(lambda: _serves(web), 60, "the raw web app")
        for label, store_url in stores:
            deployment = _Procs(tmp)
            try:
                http, store = _deploy(deployment, label, store_url, broker, env)
                # The same start without the HTTP hop: a runner in this process on the same store and queue.
                direct = build(open_store(store_url))
                direct.set_executor(f"celery+{broker}?queue=jobdeck-bench")
                rows += _latency(http, store, raw, client, 15 if quick else 100, label, direct, web)
                rows += _throughput(http, store, raw, client, 60 if quick else 1000, label, direct, web)
                direct.shutdown(grace=1)
                direct.store.close()
                if label == "SQLite":
                    rows += _writes(http, store, tmp, build, JobRunner, SQLiteStore, quick)
                store.close()
                http.close()
            finally:
                deployment.close()
        if not quick:  # a second broker costs a deployment more; the full run has the time
            rows += _rabbitmq(tmp, env, broker, client, build)
    finally:
        procs.close()
        postgres.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


AMQP = os.environ.get("JOBDECK_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


def _rabbitmq(tmp: Path, env: dict[str, str], marks: str, client: Any, build: Any) -> list[Row]:
    """The throughput pairs again with RabbitMQ as the broker (both sides, queues of this run's own, deleted
    afterwards) and the SQLite store; the raw tasks still note their start in the private Redis (``marks``)."""
    import socket
    from urllib.parse import urlsplit

    from jobdeck.stores import open_store

    from .executor_jobs import raw_app

    where = urlsplit(AMQP)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 5672), timeout=2).close()
    except OSError as exc:
        return [skipped(SECTION, "throughput with the RabbitMQ broker", f"no RabbitMQ at {where.hostname}: {exc}")]
    suffix = uuid.uuid4().hex[:8]
    raw_queue, our_queue = f"raw-bench-{suffix}", f"jobdeck-bench-{suffix}"
    env = {**env, "JOBDECK_BENCH_BROKER": AMQP, "JOBDECK_BENCH_MARKS": marks, "JOBDECK_BENCH_QUEUE": raw_queue}
    procs = _Procs(tmp)
    saved = {k: os.environ.get(k) for k in ("JOBDECK_BENCH_BROKER", "JOBDECK_BENCH_MARKS")}
    os.environ.update(JOBDECK_BENCH_BROKER=AMQP, JOBDECK_BENCH_MARKS=marks)
    raw = raw_app()
    try:
        for i in range(2):
            proc, log = procs.start(f"raw-amqp{i}", [
                sys.executable, "-m", "celery", "-A", "benchmarks.executor_jobs:app", "worker", "--pool", "threads",
                "-c", "1", "--prefetch-multiplier", "1", "-O", "fair", "-Q", raw_queue, "--without-gossip",
                "--without-mingle", "-n", f"raw-amqp{i}-{suffix}@%h", "-l", "INFO"], env)
            procs.ready(log, proc)
        web_port = _free_port()
        procs.start("raw-web-amqp", [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.executor_jobs:web_app",
                                     "--host", "127.0.0.1", "--port", str(web_port), "--log-level", "warning",
                                     "--no-access-log"], env)
        web = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30)
        _wait(lambda: _serves(web), 60, "the raw web app (RabbitMQ)")
        store_url = f"sqlite:///{tmp / 'jobs-amqp.db'}"
        http, store = _deploy(procs, "SQLite-amqp", store_url, AMQP, env, queue=our_queue)
        direct = build(open_store(store_url))
        direct.set_executor(f"celery+{AMQP}?queue={our_queue}")
        try:
            for _ in range(3):  # warm both sides' connections and the workers' first claims
                _ended(store, direct.start("Mark", "bench").id)
            return _throughput(http, store, raw, client, 1000, "SQLite", direct, web, queue=raw_queue,
                               broker="RabbitMQ")
        finally:
            direct.shutdown(grace=1)
            direct.store.close()
            store.close()
            http.close()
            web.close()
    finally:
        procs.close()
        with contextlib.suppress(Exception), raw.connection_for_write() as conn:
            for queue in (raw_queue, our_queue):
                conn.default_channel.queue_delete(queue)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _deploy(procs: _Procs, label: str, store_url: str, broker: str, env: dict[str, str],
            app_spec: str = "benchmarks.executor_jobs:build", queue: str = "jobdeck-bench") -> tuple[httpx.Client, Any]:
    """``jobdeck serve`` and two ``jobdeck worker`` processes on one store, running ``app_spec``'s job types; the
    client and a store to poll."""
    from jobdeck.stores import open_store

    executor = f"celery+{broker}?queue={queue}"
    http_port = _free_port()
    procs.start(f"serve-{label}", [sys.executable, "-m", "jobdeck.cli", "serve", "--app", app_spec, "--store",
                                   store_url, "--executor", executor, "--port", str(http_port), "--token", TOKEN,
                                   "--log-level", "warning"], env)
    workers = [procs.start(f"worker{i}-{label}", [
        sys.executable, "-m", "jobdeck.cli", "worker", "--app", app_spec, "--store", store_url,
        "--executor", executor, "--concurrency", "1", "--log-level", "warning"], env) for i in range(2)]
    for proc, log in workers:
        procs.ready(log, proc)
    http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}/api/admin/jobs",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    _wait(lambda: _answers(http), 60, "jobdeck serve")
    return http, open_store(store_url)


def _ping(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _serves(web: httpx.Client) -> bool:
    try:
        return web.get("/").status_code == 404
    except httpx.TransportError:
        return False


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/types").status_code == 200
    except httpx.TransportError:
        return False


def _ended(store: Any, job_id: str, timeout: float = 30) -> Any:
    return _wait(lambda: (j := store.get_job(job_id)) is not None and not j.is_active and j, timeout,
                 f"job {job_id}")


def _latency(http: httpx.Client, store: Any, raw: Any, client: Any, n: int, label: str, direct: Any,
             web: httpx.Client) -> list[Row]:
    ours, theirs, inside, web_raw = [], [], [], []
    parts: list[tuple[float, float, float, float]] = []  # request -> created, -> answered, -> claimed, -> handler
    floor: list[float] = []  # one GET /healthz: what any request to the server costs, before jobdeck does anything
    healthz = str(http.base_url.copy_with(path="/healthz"))
    for _ in range(3):  # warm both paths (connections, imports, first claims)
        _ended(store, http.post("/start", json={"jobType": "Mark"}).json()["id"])
        key = f"bench:lat:{uuid.uuid4().hex}"
        raw.send_task("bench.raw_mark", args=[key], queue="raw-bench")
        client.blpop(key, timeout=30)
        web.post("/send", json={"key": key + ":web"})
        client.blpop(key + ":web", timeout=30)
    for _ in range(n):  # alternate, so that the machine's noise falls on both alike
        t0 = time.time()
        job_id = http.post("/start", json={"jobType": "Mark"}).json()["id"]
        answered = time.time()
        job = _ended(store, job_id)
        ours.append(job.result["started"] - t0)
        parts.append((job.queued_time - t0, answered - t0, job.start_time - t0, job.result["started"] - t0))
        t0 = time.time()
        http.get(healthz)
        floor.append(time.time() - t0)
        t0 = time.time()
        job = _ended(store, direct.start("Mark", "bench").id)
        inside.append(job.result["started"] - t0)
        key = f"bench:lat:{uuid.uuid4().hex}"
        t0 = time.time()
        raw.send_task("bench.raw_mark", args=[key], queue="raw-bench")
        reply = client.blpop(key, timeout=30)
        theirs.append(float(reply[1]) - t0)
        client.delete(key)
        key = f"bench:lat:{uuid.uuid4().hex}"
        t0 = time.time()
        web.post("/send", json={"key": key})
        reply = client.blpop(key, timeout=30)
        web_raw.append(float(reply[1]) - t0)
        client.delete(key)
    rows = []
    created, answered, claimed, running = (percentile([p[i] for p in parts], 50) for i in range(4))
    where = (f"p50 from the request: job created {_ms(created)}, answer received {_ms(answered)}, claimed by a "
             f"worker {_ms(claimed)}, handler running {_ms(running)}; a GET /healthz round trip takes "
             f"{_ms(percentile(floor, 50))}")
    for pname, pct in (("p50", 50), ("p99", 99)):
        a, b = percentile(ours, pct), percentile(theirs, pct)
        # The HTTP hop on one side only: what an operator waits for, beside what the engine alone costs.
        rows.append(Row(SECTION, f"dispatch POST /start -> handler running, {pname} (Celery, 2 workers, {label} store)",
                        jobdeck=_ms(a), baseline=f"{_ms(b)} raw send_task", ratio=f"{a / b:.2f}x",
                        target="(context: the HTTP hop on one side only)", note=where if pct == 50 else "",
                        values={"jobdeck_s": a, "raw_s": b, "n": n}))
    for pname, pct in (("p50", 50), ("p99", 99)):
        a, b = percentile(ours, pct), percentile(web_raw, pct)
        rows.append(Row(SECTION, f"dispatch through HTTP, {pname}: POST /start beside raw send_task behind a bare "
                                 f"POST endpoint ({label} store)",
                        jobdeck=_ms(a), baseline=f"{_ms(b)} raw web + send_task", ratio=f"{a / b:.2f}x",
                        target="<= 1.25x" if pct == 50 else "(context)",
                        passed=(a <= 1.25 * b) if pct == 50 else None,
                        note=("fails when a start costs more than a quarter over the hop: jobdeck's create before the "
                              "send and its claim before the handler, a read back, a slow answer") if pct == 50 else "",
                        values={"jobdeck_s": a, "raw_s": b, "n": n}))
    a, b = percentile(inside, 50), percentile(theirs, 50)
    rows.append(Row(SECTION, f"dispatch runner.start() in-process -> handler running, p50 ({label} store)",
                    jobdeck=_ms(a), baseline=f"{_ms(b)} raw send_task", ratio=f"{a / b:.2f}x",
                    target="<= 1.25x", passed=a <= 1.25 * b,
                    note="without the HTTP hop; fails when the create and the claim (a store write each) cost more "
                         "than a quarter of the engine's own hand-over",
                    values={"jobdeck_s": a, "raw_s": b, "n": n}))
    return rows


def _throughput(http: httpx.Client, store: Any, raw: Any, client: Any, n: int, label: str, direct: Any,
                web: httpx.Client, queue: str = "raw-bench", broker: str = "") -> list[Row]:
    """Two like-for-like pairs, each started from four client threads (as a server takes starts from several
    clients at once: one client's sequential round trips would measure the client, not the workers): ``POST
    /start`` to ``jobdeck serve`` beside ``POST /send`` to a bare Starlette endpoint calling ``send_task`` (the
    HTTP server's CPU on both sides), and ``runner.start()`` in this process beside ``send_task``."""
    from concurrent.futures import ThreadPoolExecutor

    def ours(start: Any) -> tuple[float, float]:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(start, range(n)))
        posted = time.perf_counter() - t0
        for job_id in ids:
            _ended(store, job_id, timeout=120)
        return n / (time.perf_counter() - t0), posted

    def theirs(send: Any) -> float:
        key = f"bench:tp:{uuid.uuid4().hex}"
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: send(key), range(n)))
        _wait(lambda: client.llen(key) >= n, 120, "raw tasks")
        rate = n / (time.perf_counter() - t0)
        client.delete(key)
        return rate

    http_rate, posted = ours(lambda _: http.post("/start", json={"jobType": "Mark"}).json()["id"])
    web_rate = theirs(lambda key: web.post("/send", json={"key": key}))
    direct_rate, _ = ours(lambda _: direct.start("Mark", "bench").id)
    raw_rate = theirs(lambda key: raw.send_task("bench.raw_mark", args=[key], queue=queue))
    where = f"Celery, {label} store{f', {broker} broker' if broker else ''}"
    fails = ("fails when the store's writes per job (create before the send, claim and outcome on the worker) hold "
             "a worker or the starting side longer than a quarter of the engine's own cost per task")
    return [
        Row(SECTION, f"throughput through HTTP, {n} short jobs through 2 workers ({where})",
            jobdeck=f"{http_rate:.0f} jobs/s", baseline=f"{web_rate:.0f} tasks/s raw web + send_task",
            ratio=f"{http_rate / web_rate:.2f}x", target=">= 0.8x raw", passed=http_rate >= 0.8 * web_rate,
            note=f"4 client threads POST /start beside 4 POST /send to a bare endpoint; the {n} POST /start took "
                 f"{posted:.1f} s; ratio = jobdeck/raw rate; {fails}",
            values={"jobdeck_per_s": http_rate, "raw_per_s": web_rate, "n": n, "post_s": posted}),
        Row(SECTION, f"throughput in process, {n} short jobs through 2 workers ({where})",
            jobdeck=f"{direct_rate:.0f} jobs/s", baseline=f"{raw_rate:.0f} tasks/s raw send_task",
            ratio=f"{direct_rate / raw_rate:.2f}x", target=">= 0.8x raw", passed=direct_rate >= 0.8 * raw_rate,
            note=f"4 threads call runner.start() beside 4 calling send_task; ratio = jobdeck/raw rate; {fails}",
            values={"jobdeck_per_s": direct_rate, "raw_per_s": raw_rate, "n": n}),
    ]


def _writes(http: httpx.Client, store: Any, tmp: Path, build: Any, runner_cls: Any, store_cls: Any,
            quick: bool) -> list[Row]:
    params = {"progress": 5_000, "messages": 1_000} if quick else {"progress": 20_000, "messages": 5_000}
    job_id = http.post("/start", json={"jobType": "Ticker", "params": params}).json()["id"]
    remote = _ended(store, job_id, timeout=300).result
    local_store = store_cls(tmp / "local.db")
    runner = build(local_store)
    job = runner.start("Ticker", "bench", params)
    local = runner.wait(job.id, timeout=300).result
    runner.shutdown(grace=1)
    local_store.close()
    rows = []
    for what, key in (("progress()", "progress_s"), ("info() message", "message_s")):
        a, b = remote[key], local[key]
        rows.append(Row(SECTION, f"{what} per call inside a Celery worker (SQLite store)",
                        jobdeck=f"{a * 1e6:.2f} us", baseline=f"{b * 1e6:.2f} us in-process runner",
                        ratio=f"{a / b:.2f}x", target="(context: same as in the server)",
                        values={"worker_s": a, "local_s": b}))
    return rows
