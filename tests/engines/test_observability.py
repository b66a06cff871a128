"""Metrics and traces with jobs on workers, for each engine: one ``jobdeck serve`` (``--metrics-token``) and two
``jobdeck worker --metrics-port 0`` processes on one store, all loading an application that traces with
OpenTelemetry's SDK.

- Scraping the server and both workers, every job is counted exactly once over the three: queued by the server,
  started (with its queue wait) by the worker that ran it, finished by whoever ended it.
- The ``POST /start`` request's ``traceparent`` reaches the worker: the job's span there is its child.
- A job whose worker dies is reaped by the server or the other worker, and counted by that one only."""

from __future__ import annotations

import json
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import unique_schema, wait_for
from tests.scrape import Samples, scrape, value
from tests.serve_process import API, ServeProcess, clean_env

from .conftest import ROOT, STALE_AFTER, TOKEN, Deployment, RedisBroker, Worker, owner_pid

pytestmark = pytest.mark.slow

APP = "tests.engines.traced:build"
METRICS_TOKEN = "observability-metrics-token"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
READY = {"celery": " ready.", "procrastinate": "Starting worker on queues jobdeck"}


class TracedWorker(Worker):
    """``jobdeck worker --app tests.engines.traced:build --metrics-port 0`` with the spans directory set."""

    def __init__(self, log_dir: Path, store: str, executor: str, name: str, env: dict[str, str]) -> None:
        import subprocess
        import time

        self.log = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self.command = [sys.executable, "-m", "jobdeck.cli", "worker", "--app", APP, "--store", store,
                        "--executor", executor, "--concurrency", "1", "--grace", "2", "--stale-after",
                        STALE_AFTER, "--metrics-port", "0"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)

    @property
    def metrics_url(self) -> str:
        found = re.search(r"^  metrics: (http://127\.0\.0\.1:\d+/metrics)$", self.output(), re.MULTILINE)
        assert found, f"worker {self.pid} printed no metrics address:\n{self.output()[-2000:]}"
        return found.group(1)


@pytest.fixture(scope="module", params=["celery", "procrastinate", "procrastinate-postgres-store"])
def deck(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Each engine on a SQLite store; and procrastinate with a PostgreSQL store on its own database, where a job
    and its queue entry are created in one transaction (observed only once it commits)."""
    engine = request.param.split("-")[0]
    tmp = tmp_path_factory.mktemp(engine)
    store = f"sqlite:///{tmp / 'jobs.db'}"
    if engine == "celery":
        broker: RedisBroker = request.getfixturevalue("redis_broker")
        executor = f"celery+{broker.url}"
    else:
        dsn = request.getfixturevalue("procrastinate_dsn")
        executor = f"procrastinate+{dsn}"
        if request.param.endswith("postgres-store"):
            store = f"{dsn}?schema={unique_schema()}"
    spans = tmp / "spans"
    spans.mkdir()
    env = clean_env(JOBDECK_TEST_SPANS_DIR=str(spans))
    deployment = Deployment(tmp, store, executor, READY[engine])
    deployment.spans = spans  # type: ignore[attr-defined]
    try:
        server = ServeProcess(tmp, ["--app", APP, "--host", "127.0.0.1", "--store", store, "--executor", executor,
                                    "--stale-after", STALE_AFTER, "--metrics-token", METRICS_TOKEN],
                              token=TOKEN, env=env, cwd=ROOT, name="server")
        server.start(timeout=60)
        deployment.servers.append(server)
        for n in range(2):
            deployment.workers.append(TracedWorker(tmp, store, executor, f"worker{n}", env))
        for worker in deployment.workers:
            worker.wait_ready(READY[engine])
        yield deployment
    finally:
        deployment.close()


def scrapes(deck: Deployment) -> tuple[Samples, dict[int, Samples]]:
    server = scrape(f"{deck.server.url}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    workers = {w.pid: scrape(w.metrics_url) for w in deck.workers if isinstance(w, TracedWorker)}
    return server, workers


def total(found: list[Samples], name: str, **labels: str) -> float:
    return sum(value(f, name, **labels) for f in found)


def test_every_job_is_counted_once_over_the_server_and_both_workers(deck: Deployment) -> None:
    before_server, before_workers = scrapes(deck)  # the module's other test may have run first
    every_before = [before_server, *before_workers.values()]
    shorts = [deck.start_ok("Short")["id"] for _ in range(6)]
    booms = [deck.start_ok("Boom")["id"] for _ in range(2)]
    for job_id in shorts:
        deck.wait_status(job_id, "completed")
    for job_id in booms:
        deck.wait_status(job_id, "failed")
    # Both workers busy with one job each: the third waits, and is aborted by the server while queued.
    busy = [deck.start_ok("Parallel", seconds=60)["id"] for _ in range(2)]
    for job_id in busy:
        deck.wait_status(job_id, "running")
    waiting = deck.start_ok("Parallel", seconds=60)["id"]
    assert deck.job(waiting)["status"] == "queued"
    assert deck.server.api("POST", f"/single/{waiting}/abort", json={"reason": "not needed"}).status_code == 202
    for job_id in busy:  # aborted by their handlers' check_abort(), in the workers
        assert deck.server.api("POST", f"/single/{job_id}/abort", json={"reason": "stop"}).status_code == 202
    for job_id in [*busy, waiting]:
        deck.wait_status(job_id, "aborted")
    ran = [*shorts, *booms, *busy]

    def delta(found: Samples, before: Samples, name: str, **labels: str) -> float:
        return value(found, name, **labels) - value(before, name, **labels)

    def settled() -> tuple[Samples, dict[int, Samples]] | None:
        # A worker counts a job's end right after the store has it: scrape until all nine have been counted.
        server, workers = scrapes(deck)
        finished = sum(delta(f, b, "jobdeck_jobs_finished_total", job_type=t, status=s)
                       for f, b in zip([server, *workers.values()], every_before, strict=True)
                       for t, s in (("Short", "completed"), ("Boom", "failed"), ("Parallel", "aborted")))
        return (server, workers) if finished >= 11 else None

    server, workers = wait_for(settled, timeout=15, interval=0.2, what="every job's end to be counted")
    every = [server, *workers.values()]
    pairs = list(zip(every, every_before, strict=True))

    def summed(name: str, **labels: str) -> float:
        return sum(delta(f, b, name, **labels) for f, b in pairs)

    # Queued: all eleven, by the server alone.
    for job_type, count in (("Short", 6), ("Boom", 2), ("Parallel", 3)):
        assert delta(server, before_server, "jobdeck_jobs_queued_total", job_type=job_type) == count
        assert summed("jobdeck_jobs_queued_total", job_type=job_type) == count
    # Started and queue wait: the ten that ran, each by the worker its owner names; never by the server.
    owners = [owner_pid(deck.job(job_id)) for job_id in ran]
    for pid, found in workers.items():
        mine = owners.count(pid)
        before = before_workers[pid]
        assert sum(delta(found, before, "jobdeck_jobs_started_total", job_type=t)
                   for t in ("Short", "Boom", "Parallel")) == mine
        assert sum(delta(found, before, "jobdeck_job_queue_wait_seconds_count", job_type=t)
                   for t in ("Short", "Boom", "Parallel")) == mine
    assert sorted(set(owners)) == sorted(workers)  # both workers ran jobs
    for job_type, count in (("Short", 6), ("Boom", 2), ("Parallel", 2)):
        assert summed("jobdeck_jobs_started_total", job_type=job_type) == count
        assert summed("jobdeck_job_queue_wait_seconds_count", job_type=job_type) == count
        assert delta(server, before_server, "jobdeck_jobs_started_total", job_type=job_type) == 0
        assert delta(server, before_server, "jobdeck_job_queue_wait_seconds_count", job_type=job_type) == 0
    # Finished: once each over the three; the queued job's abort by the server, the others by the workers.
    assert summed("jobdeck_jobs_finished_total", job_type="Short", status="completed") == 6
    assert summed("jobdeck_jobs_finished_total", job_type="Boom", status="failed") == 2
    assert summed("jobdeck_jobs_finished_total", job_type="Parallel", status="aborted") == 3
    assert delta(server, before_server, "jobdeck_jobs_finished_total", job_type="Parallel", status="aborted") == 1
    assert delta(server, before_server, "jobdeck_jobs_finished_total", job_type="Short", status="completed") == 0
    # Running time for the ten that ran, not for the one that never did.
    assert summed("jobdeck_job_duration_seconds_count", job_type="Short", status="completed") == 6
    assert summed("jobdeck_job_duration_seconds_count", job_type="Parallel", status="aborted") == 2
    assert summed("jobdeck_jobs_reaped_total", job_type="Parallel") == 0
    # The store-wide gauge is the server's: nothing active any more.
    assert value(server, "jobdeck_jobs_active", job_type="Parallel", status="running") == 0


def spans_of(deck: Deployment, job_id: str) -> list[tuple[int, dict[str, Any]]]:
    """(pid, span) of every span any process exported for the job."""
    found = []
    for path in deck.spans.glob("spans-*.jsonl"):  # type: ignore[attr-defined]
        pid = int(path.stem.split("-")[1])
        for line in path.read_text().splitlines():
            if line.strip():
                span = json.loads(line)
                if span["attributes"].get("jobdeck.job.id") == job_id:
                    found.append((pid, span))
    return found


def test_the_start_requests_trace_context_reaches_the_worker(deck: Deployment) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    answer = httpx.post(f"{deck.server.url}{API}/start", json={"jobType": "Parallel", "params": {"seconds": 0.3}},
                        headers={**deck.server.auth, "traceparent": traceparent}, timeout=10)
    assert answer.status_code == 201, answer.text
    traced = answer.json()["id"]
    untraced = deck.start_ok("Parallel", seconds=0.3)["id"]
    for job_id in (traced, untraced):
        deck.wait_status(job_id, "completed")
    (pid, span), = wait_for(lambda: spans_of(deck, traced), timeout=10, what="the job's span to be exported")
    assert pid == owner_pid(deck.job(traced)) and pid != deck.server.proc.pid  # type: ignore[union-attr]
    assert span["name"] == "job Parallel"
    assert span["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert span["parent_id"] == f"0x{PARENT_ID}"
    assert span["attributes"]["jobdeck.job.status"] == "completed"
    assert span["attributes"]["jobdeck.job.queue_wait"] >= 0
    # A job started without a trace context is a trace of its own: nothing leaks from one job to the next.
    (_, other), = wait_for(lambda: spans_of(deck, untraced), timeout=10, what="the other job's span")
    assert other["parent_id"] is None and other["context"]["trace_id"] != f"0x{TRACE_ID}"


def test_a_job_whose_worker_died_is_reaped_and_counted_once(deck: Deployment) -> None:
    """Runs last for its deployment: it kills a worker. The server and the surviving worker both reap; the
    store lets one of them fail the job, and only that one counts it."""
    alive = [w for w in deck.workers if isinstance(w, TracedWorker) and w.proc.poll() is None]
    job_id = deck.start_ok("Parallel", seconds=60)["id"]
    victim_pid = owner_pid(deck.wait_status(job_id, "running"))
    victim = next(w for w in alive if w.pid == victim_pid)
    survivors = [w for w in alive if w is not victim]
    urls = [(f"{deck.server.url}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}),
            *((w.metrics_url, None) for w in survivors)]
    before = [scrape(url, headers) for url, headers in urls]
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    failed = deck.wait_status(job_id, "failed", timeout=30)
    assert any(f"{victim_pid}" in m["message"] for m in failed["errorMessages"]), failed["errorMessages"]

    def reaped() -> list[float]:
        return [value(scrape(url, headers), "jobdeck_jobs_reaped_total", job_type="Parallel")
                - value(b, "jobdeck_jobs_reaped_total", job_type="Parallel")
                for (url, headers), b in zip(urls, before, strict=True)]

    wait_for(lambda: sum(reaped()) >= 1, timeout=10, interval=0.2, what="the reaping to be counted")
    counts = reaped()
    assert sorted(counts) == [0.0] * (len(urls) - 1) + [1.0], counts
    after = [scrape(url, headers) for url, headers in urls]
    assert sum(value(a, "jobdeck_jobs_finished_total", job_type="Parallel", status="failed")
               - value(b, "jobdeck_jobs_finished_total", job_type="Parallel", status="failed")
               for a, b in zip(after, before, strict=True)) == 1
