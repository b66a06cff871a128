"""The per-process job figures (jobdeck.runtime.metrics): each lifecycle change counted by the one store object that
made it, queue wait observed at the claim, and a worker's endpoint served by prometheus_client's own HTTP server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from jobdeck.core.errors import InvalidArgumentError
from jobdeck.runtime.metrics import JobCounters, serve_metrics
from jobdeck.stores import open_store
from jobdeck.stores.base import Store
from tests.scrape import Samples, samples, scrape, value
from tests.serve_process import clean_env


class Counted:
    """A store object of its own (as in a process of its own) on the shared file, with its own counters."""

    def __init__(self, url: str) -> None:
        self.store: Store = open_store(url)
        self.registry = CollectorRegistry()
        self.counters = JobCounters(self.registry)
        self.store.add_observer(self.counters.observe)

    def found(self) -> Samples:
        from prometheus_client import generate_latest

        return samples(generate_latest(self.registry).decode())


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[Counted, Counted]]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    server, worker = Counted(url), Counted(url)
    yield server, worker
    server.store.close()
    worker.store.close()


def test_each_change_is_counted_by_the_store_object_that_made_it(shared: tuple[Counted, Counted]) -> None:
    server, worker = shared
    ran = server.store.create_job("Q", "a", queued=True)
    aborted = server.store.create_job("Q", "a", queued=True)
    lost = server.store.create_job("Q", "a", queued=True)
    time.sleep(0.02)  # a measurable wait (the figure is compared with the store's own times, not with this)
    claimed = worker.store.claim_job(ran.id, "host:1:w")
    assert claimed is not None and worker.store.claim_job(ran.id, "host:2:x") is None  # claimed once
    assert server.store.request_abort(aborted.id, "not needed")
    assert server.store.fail_lost(lost.id, "the broker lost it")
    assert worker.store.complete_job(ran.id, {"ok": True})
    local = server.store.create_job("L", "a", owner="host:3:s")  # a job run where it was started
    assert server.store.fail_job(local.id, "boom")

    s, w = server.found(), worker.found()
    assert value(s, "jobdeck_jobs_queued_total", job_type="Q") == 3
    assert value(w, "jobdeck_jobs_queued_total", job_type="Q") == 0
    assert value(w, "jobdeck_jobs_started_total", job_type="Q") == 1
    assert value(s, "jobdeck_jobs_started_total", job_type="Q") == 0
    assert value(s, "jobdeck_jobs_started_total", job_type="L") == 1
    assert value(w, "jobdeck_jobs_finished_total", job_type="Q", status="completed") == 1
    assert value(s, "jobdeck_jobs_finished_total", job_type="Q", status="aborted") == 1
    assert value(s, "jobdeck_jobs_finished_total", job_type="Q", status="failed") == 1
    assert value(s, "jobdeck_jobs_finished_total", job_type="L", status="failed") == 1
    # Queue wait: once, by the claiming worker, exactly the store's creation-to-claim time.
    assert value(w, "jobdeck_job_queue_wait_seconds_count", job_type="Q") == 1
    assert value(s, "jobdeck_job_queue_wait_seconds_count", job_type="Q") == 0
    assert value(w, "jobdeck_job_queue_wait_seconds_sum", job_type="Q") == pytest.approx(
        claimed.start_time - ran.start_time) and claimed.start_time - ran.start_time >= 0.02
    # Running time only for jobs that ran: none for the two that ended while queued.
    assert value(w, "jobdeck_job_duration_seconds_count", job_type="Q", status="completed") == 1
    assert value(s, "jobdeck_job_duration_seconds_count", job_type="Q", status="aborted") == 0
    assert value(s, "jobdeck_job_duration_seconds_count", job_type="Q", status="failed") == 0
    assert value(s, "jobdeck_job_duration_seconds_count", job_type="L", status="failed") == 1
    # Every job is finished exactly once over both processes.
    finished = sum(v for (name, _), v in (*s.items(), *w.items()) if name == "jobdeck_jobs_finished_total")
    assert finished == 4


def test_a_job_reaped_as_stale_is_counted_by_the_reaper(shared: tuple[Counted, Counted]) -> None:
    server, worker = shared
    job = server.store.create_job("Q", "a", queued=True)
    assert worker.store.claim_job(job.id, "host:1:w") is not None
    later = time.time() + server.store.stale_after * 10
    assert server.store.reap_stale(now=later) == [job.id]
    assert worker.store.reap_stale(now=later) == []
    s, w = server.found(), worker.found()
    assert value(s, "jobdeck_jobs_reaped_total", job_type="Q") == 1
    assert value(s, "jobdeck_jobs_finished_total", job_type="Q", status="failed") == 1
    assert value(s, "jobdeck_job_duration_seconds_count", job_type="Q", status="failed") == 1  # it did run
    assert value(w, "jobdeck_jobs_reaped_total", job_type="Q") == 0
    assert value(w, "jobdeck_jobs_finished_total", job_type="Q", status="failed") == 0


def test_serve_metrics_binds_loopback_and_stops_on_close(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    server = serve_metrics(store, 0)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics" and server.port > 0
        job = store.create_job("Q", "a", queued=True)
        store.claim_job(job.id, "host:1:w")
        store.complete_job(job.id)
        found = scrape(server.url)
        assert value(found, "jobdeck_jobs_started_total", job_type="Q") == 1
        assert value(found, "jobdeck_jobs_finished_total", job_type="Q", status="completed") == 1
        assert value(found, "jobdeck_job_queue_wait_seconds_count", job_type="Q") == 1
        with pytest.raises(InvalidArgumentError, match="cannot serve metrics"):
            serve_metrics(store, server.port)  # the port is taken
    finally:
        server.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url, timeout=2)
    other = store.create_job("Q", "a")
    store.complete_job(other.id)  # no observer left behind: nothing to count, nothing raised
    store.close()


def test_serve_metrics_refuses_a_bad_port() -> None:
    store = open_store("memory://")
    with pytest.raises(InvalidArgumentError, match=r"0\.\.65535"):
        serve_metrics(store, 70000)



def test_a_worker_whose_metrics_port_is_taken_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "jobdeck.cli", "worker", "--demo", "--store",
                                 f"sqlite:///{tmp_path / 'jobs.db'}", "--executor", "celery+redis://127.0.0.1:9/0",
                                 "--metrics-port", str(port)],
                                capture_output=True, text=True, timeout=60, env=clean_env(), check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"jobdeck worker: cannot serve metrics on 127.0.0.1:{port}: Address already in use"], result.stderr


def test_held_observations_count_after_the_block_and_never_for_one_that_raised(
        shared: tuple[Counted, Counted]) -> None:
    server, _ = shared
    with pytest.raises(RuntimeError), server.store.observations_held():
        server.store.create_job("Q", "a", queued=True)  # as if the caller's transaction then rolled back
        raise RuntimeError("the enqueue failed")
    assert value(server.found(), "jobdeck_jobs_queued_total", job_type="Q") == 0
    with server.store.observations_held():
        server.store.create_job("Q", "a", queued=True)
        assert value(server.found(), "jobdeck_jobs_queued_total", job_type="Q") == 0  # not yet: not committed
    assert value(server.found(), "jobdeck_jobs_queued_total", job_type="Q") == 1


def test_a_job_requeued_after_its_worker_died_is_counted_as_requeued_then_started_again(
        shared: tuple[Counted, Counted]) -> None:
    server, worker = shared
    job = server.store.create_job("Q", "a", queued=True)
    assert worker.store.claim_job(job.id, "host:1:dead") is not None
    later = time.time() + server.store.stale_after * 10
    assert server.store.reap_stale(now=later, requeue={"Q": 1}) == [job.id]
    assert server.store.require_job(job.id).status.value == "queued"
    again = worker.store.claim_job(job.id, "host:2:alive")
    assert again is not None and worker.store.complete_job(job.id)
    s, w = server.found(), worker.found()
    assert value(s, "jobdeck_jobs_requeued_total", job_type="Q") == 1
    assert value(s, "jobdeck_jobs_reaped_total", job_type="Q") == 0  # re-queued, not failed
    assert value(s, "jobdeck_jobs_queued_total", job_type="Q") == 1  # created once
    assert value(s, "jobdeck_jobs_finished_total", job_type="Q", status="failed") == 0
    assert value(w, "jobdeck_jobs_started_total", job_type="Q") == 2  # one start per run
    assert value(w, "jobdeck_job_queue_wait_seconds_count", job_type="Q") == 2
    assert value(w, "jobdeck_jobs_finished_total", job_type="Q", status="completed") == 1
    assert value(w, "jobdeck_job_duration_seconds_count", job_type="Q", status="completed") == 1
