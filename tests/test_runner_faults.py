"""The runner when the store fails under it, and when shutdown races a start: outcomes are retried until the
store is back, supervision logs an outage once (and its end once), a reaped job's reason tells an unreachable
store from a dead process, and a job being started while the runner shuts down is not left active."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdeck import JobdeckError, JobInfo, JobRunner, JobStatus, MemoryStore, PipelineController
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for


@pytest.fixture
def locked_store(tmp_path: Path) -> Iterator[tuple[SQLiteStore, sqlite3.Connection]]:
    """A SQLite store (failing fast when the file is locked) and a second connection to lock it with."""
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path, busy_timeout=0.02)
    locker = sqlite3.connect(path, isolation_level=None, timeout=5)
    yield store, locker
    if locker.in_transaction:
        locker.execute("ROLLBACK")
    locker.close()
    store.close()


@pytest.mark.slow
def test_a_failure_during_an_outage_is_recorded_once_the_store_is_back(
        locked_store: tuple[SQLiteStore, sqlite3.Connection], caplog: pytest.LogCaptureFixture) -> None:
    store, locker = locked_store
    caplog.set_level(logging.WARNING, logger="jobdeck.runner")
    go = threading.Event()

    def fails_later(ctl: PipelineController) -> None:
        go.wait(10)
        raise RuntimeError("the work itself failed")

    runner = JobRunner(store, heartbeat_interval=0.05, store_retry=30)
    runner.register("FailsLater", fails_later)
    try:
        job = runner.start("FailsLater", "me")
        locker.execute("BEGIN EXCLUSIVE")  # the outage: every write fails ("database is locked")
        go.set()
        wait_for(lambda: any("recording the end of job" in r.getMessage() for r in caplog.records), timeout=10,
                 what="the outcome write to fail and be retried")
        wait_for(lambda: any("job supervision failed" in r.getMessage() for r in caplog.records), timeout=10,
                 what="supervision to meet the outage")
        time.sleep(0.5)  # not a wait for a condition: the outage must span many rounds of supervision
        locker.execute("ROLLBACK")  # the store is back
        ended = runner.wait(job.id, timeout=30)
    finally:
        runner.shutdown(grace=5)
    assert ended.status is JobStatus.FAILED
    assert [m.message for m in ended.error_messages] == ["RuntimeError: the work itself failed"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("job supervision failed" in m for m in messages) == 1, messages
    assert sum("job supervision works again" in m for m in messages) == 1, messages
    assert sum("failed, retrying for up to 30s" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.exc_info and "supervision" in r.getMessage()]


def test_a_reaped_job_of_a_live_process_blames_the_store_not_the_process() -> None:
    store = MemoryStore(stale_after=1)
    mine = store.create_job("T", "me", owner="host:1:aaaaaa")
    theirs = store.create_job("T", "me", owner="host:2:bbbbbb")
    later = time.time() + 60
    reaped = store.reap_stale(now=later, alive_owner="host:1:aaaaaa")
    assert sorted(reaped) == sorted([mine.id, theirs.id])
    own = store.require_job(mine.id).error_messages[-1].message
    other = store.require_job(theirs.id).error_messages[-1].message
    assert "is alive" in own and "store was unreachable" in own and "died" not in own
    assert "died, hung or cannot reach the store" in other


class SlowToCreate(MemoryStore):
    """A memory store whose job creation waits until released: a start() caught between its checks."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        self.entered.set()
        self.release.wait(10)
        super()._insert(job, max_active)


def test_shutdown_during_a_start_leaves_nothing_active() -> None:
    store = SlowToCreate()

    def waits(ctl: PipelineController) -> None:
        while True:
            ctl.check_abort()
            time.sleep(0.01)

    runner = JobRunner(store, abort_grace=5)
    runner.register("Waits", waits)
    started: list[JobInfo] = []
    starter = threading.Thread(target=lambda: started.append(runner.start("Waits", "me")))
    starter.start()
    assert store.entered.wait(10)  # start() is past its closing check, creating the job
    stopper = threading.Thread(target=runner.shutdown, kwargs={"grace": 5})
    stopper.start()
    wait_for(lambda: runner._closing, what="shutdown to begin")
    store.release.set()
    starter.join(10)
    stopper.join(15)
    assert not stopper.is_alive() and len(started) == 1
    assert store.get_active_jobs() == []
    assert store.require_job(started[0].id).status in (JobStatus.ABORTED, JobStatus.FAILED)
    with pytest.raises(JobdeckError, match="shutting down"):
        runner.start("Waits", "me")


class SlowToClaim(MemoryStore):
    """A memory store whose claim waits until released: a worker's run_job() caught past its closing check."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def claim_job(self, job_id: str, owner: str) -> JobInfo | None:
        self.entered.set()
        self.release.wait(10)
        return super().claim_job(job_id, owner)


def test_shutdown_during_a_workers_claim_asks_its_job_to_stop() -> None:
    # Issue 19, item 14: run_job was not counted in flight, so shutdown() could snapshot its jobs while a worker
    # was claiming one, return with nothing asked to stop, and leave that job running without heartbeats.
    store = SlowToClaim()
    stop = threading.Event()

    def waits(ctl: PipelineController) -> None:
        while not stop.is_set():
            ctl.check_abort()
            stop.wait(0.01)

    runner = JobRunner(store, abort_grace=5)
    runner.register("Waits", waits)
    queued = store.create_job("Waits", "me", queued=True)
    ran: list[JobInfo | None] = []
    worker = threading.Thread(target=lambda: ran.append(runner.run_job(queued.id)))
    worker.start()
    try:
        assert store.entered.wait(10)  # run_job() is past its closing check, claiming the job
        stopper = threading.Thread(target=runner.shutdown, kwargs={"grace": 5})
        stopper.start()
        wait_for(lambda: runner.closing, what="shutdown to begin")
        with runner._lock:  # shutdown() took its snapshot, or waits for the claim to register its job
            pass
        store.release.set()
        stopper.join(15)
        assert not stopper.is_alive()
        # What shutdown() promises: no job of this runner is left active once it returns.
        assert store.require_job(queued.id).status is JobStatus.ABORTED
        assert "server shutting down" in store.require_job(queued.id).warning_messages[0].message
    finally:
        store.release.set()
        stop.set()
        worker.join(15)
    assert not worker.is_alive()
    assert ran and ran[0] is not None and ran[0].status is JobStatus.ABORTED


@pytest.mark.slow
def test_an_outcome_retried_during_an_outage_leaves_other_async_jobs_their_pace(
        locked_store: tuple[SQLiteStore, sqlite3.Connection], caplog: pytest.LogCaptureFixture) -> None:
    # Issue 19, item 15: the retries of an async job's outcome slept on the event loop every async job shares.
    import asyncio

    store, locker = locked_store
    caplog.set_level(logging.WARNING, logger="jobdeck.runner")
    go, stop = threading.Event(), threading.Event()
    ticks: list[float] = []

    async def ticker(ctl: PipelineController) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    async def fails_later(ctl: PipelineController) -> None:
        while not go.is_set():
            await asyncio.sleep(0.01)
        raise RuntimeError("the work itself failed")

    runner = JobRunner(store, heartbeat_interval=0.05, store_retry=30)
    runner.register("Ticker", ticker)
    runner.register("FailsLater", fails_later)
    try:
        steady = runner.start("Ticker", "me")
        failing = runner.start("FailsLater", "me")
        wait_for(lambda: len(ticks) >= 3, what="the ticker to tick")
        locker.execute("BEGIN EXCLUSIVE")  # the outage: every write fails ("database is locked")
        try:
            go.set()
            wait_for(lambda: any("recording the end of job" in r.getMessage() for r in caplog.records),
                     timeout=10, what="the outcome write to fail and be retried")
            began = time.monotonic()
            time.sleep(3)  # the outage's length: long enough for the retries' pauses to reach 1.6 s
            ended = time.monotonic()
        finally:
            locker.execute("ROLLBACK")
        during = [t for t in ticks if began <= t <= ended]
        gaps = [b - a for a, b in itertools.pairwise(during)]
        # At a 50 ms pace, 3 s make about 60 ticks; the blocking retries let none through, or a few 1.6 s apart.
        assert len(during) > 20 and max(gaps) < 1.0, f"{len(during)} ticks, longest gap {max(gaps, default=0):.2f}s"
        stop.set()
        assert runner.wait(failing.id, timeout=30).status is JobStatus.FAILED
        assert runner.wait(steady.id, timeout=30).status is JobStatus.COMPLETED
    finally:
        stop.set()
        runner.shutdown(grace=5)
    failed = store.require_job(failing.id)
    assert [m.message for m in failed.error_messages] == ["RuntimeError: the work itself failed"]
