"""Celery workers on a store that goes away (issue 19, item 2): the red team saw 8 of 8 running jobs fail, recorded
as "that process died, hung or cannot reach the store" although both workers lived. The store is a private
PostgreSQL cluster (tests/pg_cluster.py) the test stops for 10 s and starts again, or a private Redis the test
freezes for 8 s (SIGSTOP, then SIGCONT: the server neither answers nor closes its connections); the broker is
another private Redis. The stale window is 30 s here (not the other engine tests' 3 s): the outage is inside it, so
no job may fail."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import fresh_database, require

from . import conftest as engines
from .conftest import Deployment, RedisBroker

pytestmark = pytest.mark.slow

READY = " ready."
JOBS = 8


@pytest.fixture(scope="module")
def on_postgres(pg_cluster_server: Any, redis_broker: RedisBroker,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Any]]:
    if pg_cluster_server is None:
        require("no PostgreSQL server binaries (initdb): install Debian's postgresql package")
    tmp = tmp_path_factory.mktemp("celery-pg-outage")
    window = engines.STALE_AFTER
    engines.STALE_AFTER = "30"  # read when the processes are started
    try:
        with fresh_database(pg_cluster_server.url(), prefix="jobdeck_celery_outage") as url:
            deployment = Deployment(tmp, url, f"celery+{redis_broker.url}", READY,
                                    worker_args=["--concurrency", str(JOBS // 2)])
            try:
                deployment.add_server()
                deployment.start_workers(2)
                yield deployment, pg_cluster_server
            finally:
                deployment.close()
    finally:
        engines.STALE_AFTER = window


def test_a_10s_postgres_stop_fails_no_job_running_on_celery_workers(on_postgres: tuple[Deployment, Any]) -> None:
    deck, postgres = on_postgres
    jobs = [deck.start_ok("Parallel", seconds=45.0) for _ in range(JOBS)]
    for job in jobs:
        deck.wait_status(job["id"], "running", timeout=60)
    workers = {w.pid for w in deck.workers}
    postgres.stop()
    try:
        time.sleep(10)  # the outage's length, not a wait for a condition
    finally:
        postgres.start()
    ended = [deck.wait_status(job["id"], "completed", "failed", "aborted", timeout=120) for job in jobs]
    problems = {j["id"]: (j["status"], [m["message"] for m in j["errorMessages"]]) for j in ended
                if j["status"] != "completed"}
    assert not problems, problems
    assert all(w.proc.poll() is None for w in deck.workers) and {w.pid for w in deck.workers} == workers


@pytest.fixture(scope="module")
def on_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, RedisBroker]]:
    tmp = tmp_path_factory.mktemp("celery-redis-outage")
    store_server = RedisBroker(tmp)  # the store's own Redis, which the test freezes
    store_server.start()
    # A broker of its own: the PostgreSQL test's workers (module-scoped, alive until the module ends) listen on the
    # shared broker's queue and would take these jobs' tasks, which their store does not hold.
    broker = RedisBroker(tmp_path_factory.mktemp("celery-redis-outage-broker"))
    broker.start()
    window = engines.STALE_AFTER
    engines.STALE_AFTER = "30"  # read when the processes are started
    try:
        deployment = Deployment(tmp, f"{store_server.url}?prefix=jobdeck-frozen", f"celery+{broker.url}", READY,
                                worker_args=["--concurrency", str(JOBS // 2)])
        try:
            deployment.add_server()
            deployment.start_workers(2)
            yield deployment, store_server
        finally:
            deployment.close()
    finally:
        engines.STALE_AFTER = window
        store_server.stop()
        broker.stop()


# 8 s is the red team's freeze; 12 s outlasts redis-py's 10 s socket timeout, so that the workers' store calls fail
# instead of only waiting (the case that failed every job before the fix).
@pytest.mark.parametrize("freeze", [8.0, 12.0], ids=["8s", "12s-past-the-socket-timeout"])
def test_a_redis_freeze_fails_no_job_running_on_celery_workers(on_redis: tuple[Deployment, RedisBroker],
                                                                freeze: float) -> None:
    deck, store_server = on_redis
    assert store_server.proc is not None
    jobs = [deck.start_ok("Parallel", seconds=30.0) for _ in range(JOBS)]
    for job in jobs:
        deck.wait_status(job["id"], "running", timeout=60)
    workers = {w.pid for w in deck.workers}
    os.kill(store_server.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(freeze)  # the freeze's length, not a wait for a condition
    finally:
        os.kill(store_server.proc.pid, signal.SIGCONT)
    ended = [deck.wait_status(job["id"], "completed", "failed", "aborted", timeout=120) for job in jobs]
    problems = {j["id"]: (j["status"], [m["message"] for m in j["errorMessages"]]) for j in ended
                if j["status"] != "completed"}
    assert not problems, problems
    assert all(w.proc.poll() is None for w in deck.workers) and {w.pid for w in deck.workers} == workers
