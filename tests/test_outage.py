"""A store that goes away for less than its ``stale_after`` fails no running job (issue 19, item 2).

Real faults in private instances: a redis-server of this module's own frozen with SIGSTOP (it accepts
connections and answers nothing, as a hung server does) and a PostgreSQL cluster of the session's own stopped
(tests/pg_cluster.py). Eight jobs run on the local executor of one runner; a second runner, on a store object of
its own and so with another owner token, plays the other process whose reaper must not take them for dead. Every
job must go on through the outage and complete afterwards. A start during the freeze answers 503 within
``start_timeout`` instead of waiting for the store, and the job the store creates late is failed, never run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobInfo, JobRunner, JobStatus, PipelineController, Store
from jobdeck.api import create_app
from tests.api.conftest import live_server
from tests.conftest import fresh_database, wait_for
from tests.engines.conftest import RedisBroker

pytestmark = pytest.mark.slow

STALE_AFTER = 30.0  # the window: every outage here is well inside it
JOBS = 8


class Steady:
    """A handler that works in small steps (abort check, progress, now and then a message) until ``finish``."""

    def __init__(self) -> None:
        self.finish = threading.Event()
        self.steps: dict[str, int] = {}

    def __call__(self, ctl: PipelineController) -> dict[str, int]:
        n = 0
        while not self.finish.is_set():
            ctl.check_abort()
            n += 1
            self.steps[ctl.job_id] = n
            ctl.progress(min(0.99, n / 100_000))
            if n % 20 == 0:
                ctl.info(f"step {n}")
            self.finish.wait(0.05)
        return {"steps": n}


def ride_out(open_store: Callable[[], Store], outage: Callable[[], None]) -> list[JobInfo]:
    """Run JOBS jobs through ``outage()``; return them as they ended."""
    store, elsewhere = open_store(), open_store()
    work = Steady()
    runner = JobRunner(store, heartbeat_interval=1.0)
    runner.register("Steady", work, max_concurrent=JOBS)
    other = JobRunner(elsewhere, heartbeat_interval=1.0)  # another process's supervisor and reaper
    other.start_supervisor()
    try:
        jobs = [runner.start("Steady", "ops") for _ in range(JOBS)]
        wait_for(lambda: all(work.steps.get(j.id, 0) >= 5 for j in jobs), timeout=30, what="every job to work")
        outage()
        after = {j.id: work.steps[j.id] for j in jobs}
        wait_for(lambda: all(work.steps[j.id] >= after[j.id] + 5 for j in jobs), timeout=30,
                 what="every handler to go on after the outage")
        work.finish.set()
        return [runner.wait(j.id, timeout=60) for j in jobs]
    finally:
        work.finish.set()
        runner.shutdown(grace=10)
        other.shutdown(grace=1)
        store.close()
        elsewhere.close()


def assert_all_completed(ended: list[JobInfo]) -> None:
    problems = {j.id: (j.status.value, [m.message for m in j.error_messages]) for j in ended
                if j.status is not JobStatus.COMPLETED}
    assert not problems, problems
    assert all(j.result and j.result["steps"] > 10 for j in ended)


@pytest.fixture(scope="module")
def fragile_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisBroker]:
    """A redis-server of this module's own, which the tests freeze (the shared session one is never touched)."""
    server = RedisBroker(tmp_path_factory.mktemp("fragile-redis"))
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


class Freeze:
    """SIGSTOP the redis-server, SIGCONT it on leaving (whatever happened)."""

    def __init__(self, server: RedisBroker) -> None:
        assert server.proc is not None
        self.pid = server.proc.pid

    def __enter__(self) -> Freeze:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def redis_store(server: RedisBroker, prefix: str) -> Callable[[], Store]:
    from jobdeck.stores.redis import RedisStore

    return lambda: RedisStore(server.url, prefix=prefix, stale_after=STALE_AFTER)


@pytest.mark.parametrize("seconds", [8, 12], ids=["8s", "12s-past-the-socket-timeout"])
def test_a_redis_freeze_fails_no_running_job(fragile_redis: RedisBroker, seconds: float) -> None:
    # 8 s is the red team's freeze: calls wait and then succeed. 12 s outlasts the client's socket timeout (10 s),
    # so that the calls waiting on the frozen server fail: the handlers meet StoreErrors and must go on.
    def outage() -> None:
        with Freeze(fragile_redis):
            time.sleep(seconds)  # the fault's length, not a wait for a condition

    assert_all_completed(ride_out(redis_store(fragile_redis, f"freeze{time.monotonic_ns()}"), outage))


def test_a_postgres_stop_of_10s_fails_no_running_job(pg_cluster: Any) -> None:
    from jobdeck.stores.postgres import PostgresStore

    def outage() -> None:
        pg_cluster.stop()
        try:
            time.sleep(10)  # the fault's length
        finally:
            pg_cluster.start()

    with fresh_database(pg_cluster.url(), prefix="jobdeck_outage") as url:
        assert_all_completed(ride_out(lambda: PostgresStore(url, stale_after=STALE_AFTER), outage))


def test_a_start_during_a_redis_freeze_answers_503_within_seconds(fragile_redis: RedisBroker, tmp_path: Path) -> None:
    store = redis_store(fragile_redis, f"start{time.monotonic_ns()}")()
    work = Steady()
    runner = JobRunner(store)
    runner.register("Steady", work, max_concurrent=JOBS)
    app = create_app(runner=runner, ui=False)
    try:
        with live_server(app) as base, httpx.Client(base_url=f"{base}/api/admin/jobs", timeout=30) as http:
            with Freeze(fragile_redis):
                asked = time.monotonic()
                answer = http.post("/start", json={"jobType": "Steady"})
                took = time.monotonic() - asked
                time.sleep(max(0.0, 8 - took))  # the freeze lasts 8 s, as the red team's did
            assert (answer.status_code, took < 7) == (503, True), f"{answer.text} after {took:.1f}s"
            assert "start_timeout" in answer.json()["error"]
            # The store created the job once it woke; nobody was told of it, so it must not run.
            late = wait_for(lambda: store.get_past_jobs(messages=True), timeout=20, what="the late job to be failed")
            assert [j.status for j in late] == [JobStatus.FAILED]
            assert "Job not started" in late[0].error_messages[-1].message
            assert work.steps == {}
            assert store.get_active_jobs() == []
            started = http.post("/start", json={"jobType": "Steady"})  # the store is back: starts work again
            assert started.status_code == 201, started.text
    finally:
        work.finish.set()
        runner.shutdown(grace=10)
        store.close()
