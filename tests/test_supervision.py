"""The supervisor (jobdeck/_supervision.py): each job's round on its own, job heads instead of message logs, the
reaper's grace after the store comes back, and a forked child's fresh locks."""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

from jobdeck import JobInfo, JobRunner, JobStatus, MemoryStore, PipelineController, StoreError
from jobdeck.core.events import EventBatch
from jobdeck.stores.base import Change
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for


class OneBadBeat(MemoryStore):
    """A memory store whose heartbeat of one job raises something unexpected."""

    bad: str = ""

    def heartbeat(self, job_id: str, owner: str | None = None) -> bool:
        if job_id == self.bad:
            raise RuntimeError("something unexpected about this one job")
        return super().heartbeat(job_id, owner)


def test_one_jobs_error_in_a_round_skips_no_other_jobs_heartbeat(caplog: pytest.LogCaptureFixture) -> None:
    # Issue 19, item 18: the first job's exception ended the round, so the jobs after it got no heartbeat.
    store = OneBadBeat()
    release = threading.Event()
    runner = JobRunner(store, heartbeat_interval=60)  # the test drives the rounds itself
    runner.register("Waits", lambda ctl: release.wait(20), max_concurrent=2)
    try:
        first = runner.start("Waits", "me")
        second = runner.start("Waits", "me")
        store.bad = first.id
        before = store.require_job(second.id).heartbeat_time
        assert before is not None
        time.sleep(0.01)  # so that a new heartbeat has a later time on any clock
        with caplog.at_level(logging.ERROR, logger="jobdeck.runner"):
            runner.tick()
            runner.tick()
        after = store.require_job(second.id).heartbeat_time
        assert after is not None and after > before
        logged = [r for r in caplog.records if "supervising job" in r.getMessage()]
        assert len(logged) == 1 and first.id in logged[0].getMessage()  # once per job, not once per round
    finally:
        release.set()
        runner.shutdown(grace=5)


def test_a_round_reads_job_heads_not_their_messages(tmp_path: Path) -> None:
    # Issue 19, item 19: every heartbeat read every running job with all its messages (thousands, here).
    reads: list[int | None] = []

    class Counting(SQLiteStore):
        def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
            reads.append(keep)
            return super()._read(job_id, keep)

    store = Counting(tmp_path / "jobs.db", max_messages=5000)
    release = threading.Event()

    def chatty(ctl: PipelineController) -> None:
        for i in range(3000):
            ctl.info(f"message {i}")
        release.wait(20)

    runner = JobRunner(store, heartbeat_interval=60)
    runner.register("Chatty", chatty)
    try:
        job = runner.start("Chatty", "me")
        wait_for(lambda: len(store.require_job(job.id, messages=True).info_messages) == 3000, timeout=30,
                 what="the job's 3,000 messages")
        reads.clear()
        runner.tick()
        assert reads and all(keep == 0 for keep in reads), reads
    finally:
        release.set()
        runner.shutdown(grace=5)
        store.close()


class Unplugged(MemoryStore):
    """A memory store that fails every call the supervisor makes while ``down`` is set: an outage on demand."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise StoreError("memory store unplugged for the test")

    def _query_active(self, job_type: str | None, keep: int | None) -> list[JobInfo]:
        self._check()
        return super()._query_active(job_type, keep)

    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        self._check()
        return super()._read(job_id, keep)

    def _change(self, job_id: str, change: Change, emit: bool) -> bool:
        self._check()
        return super()._change(job_id, change, emit)

    def _read_events(self, after: str | None, limit: int) -> EventBatch:
        self._check()
        return super()._read_events(after, limit)


def test_the_reaper_waits_after_the_store_returns_before_reaping_others_jobs(
        caplog: pytest.LogCaptureFixture) -> None:
    # Issue 19, item 2: right after an outage every other process's job looks stale, because their heartbeats
    # could not be written either; the reaper must give them a heartbeat interval to write one.
    store = Unplugged(stale_after=2.0)
    theirs = store.create_job("T", "me", owner="elsewhere:4242:aaaaaa")  # another process runs it
    runner = JobRunner(store, heartbeat_interval=0.5)  # a grace of 1.5 s
    caplog.set_level(logging.WARNING, logger="jobdeck.runner")
    try:
        store.down = True
        runner.start_supervisor()
        wait_for(lambda: any("supervision failed" in r.getMessage() for r in caplog.records), what="the outage")
        time.sleep(2.5)  # the outage's length: longer than stale_after, so the job's last heartbeat is too old
        store.down = False
        wait_for(lambda: any("works again" in r.getMessage() for r in caplog.records), timeout=10,
                 what="the supervisor to regain the store")
        # The supervisor's first round with the store back (and its reap, were it allowed) is over.
        assert store.require_job(theirs.id).status is JobStatus.RUNNING
        store.heartbeat(theirs.id, "elsewhere:4242:aaaaaa")  # its owner's first heartbeat after the outage
        # A silent owner is still reaped once its heartbeat is stale again: the reaper was paused, not stopped.
        failed = wait_for(lambda: (j := store.require_job(theirs.id)).status is JobStatus.FAILED and j,
                          timeout=10, what="the reaper to resume")
        assert "went stale" in failed.error_messages[-1].message
    finally:
        store.down = False
        runner.shutdown(grace=1)


def test_a_child_forked_while_the_runners_locks_are_held_gets_fresh_ones() -> None:
    # Issue 19, item 17: a lock some thread of the parent held at the instant of fork() is held for ever in the
    # child, which then hangs in start() (the runner's lock) or in anything that lists its jobs (the supervisor's).
    store = MemoryStore()
    runner = JobRunner(store)
    runner.register("Quick", lambda ctl: 42)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with runner._lock, runner._supervision._lock:
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12 warns about fork() with threads
            pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                job = runner.start("Quick", "child")
                done = runner.wait(job.id, timeout=10)
                code = 0 if done.status is JobStatus.COMPLETED and runner.running_ids == [] else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + 20
        while True:
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung on a lock its parent held at the fork")
            time.sleep(0.02)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join(10)
        runner.shutdown(grace=1)


def test_persist_retries_on_the_backoff_schedule_and_logs_an_outage_twice(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # The outcome's retries pause as jobdeck.core.backoff says (doubling from 50 ms, at most 2 s), one line when
    # the trouble starts and one when it ends, and give up with the StoreError once the patience is spent.
    from jobdeck.runtime import supervision

    pauses: list[float] = []
    monkeypatch.setattr(supervision.time, "sleep", pauses.append)
    failures = iter(range(8))

    def write() -> str:
        if next(failures, None) is not None:
            raise StoreError("the store is away")
        return "written"

    with caplog.at_level(logging.WARNING, logger="jobdeck.runner"):
        assert supervision.persist("recording it", 60.0, write) == "written"
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert [r.getMessage() for r in caplog.records] == [
        "recording it failed, retrying for up to 60s: the store is away",
        "recording it succeeded after 8 failed attempt(s)"]

    def away() -> None:
        raise StoreError("the store is away")

    with pytest.raises(StoreError, match="away"):
        supervision.persist("recording it", 0.01, away)
