"""Log capture: records of a job's own thread or tasks become its messages, never another job's, within the
rate limit; jobdeck's own log lines are not doubled."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from jobdeck import JobRunner, MemoryStore, PipelineController
from jobdeck.core.model import JobStatus
from jobdeck.runtime.logcapture import BURST, MAX_CHARS, _text

LIB = logging.getLogger("acme.lib")


@pytest.fixture(autouse=True)
def lib_at_info() -> Iterator[None]:
    """The application's logging configuration lets INFO through for its library (jobdeck never changes it)."""
    LIB.setLevel(logging.INFO)
    yield
    LIB.setLevel(logging.NOTSET)


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    with MemoryStore() as store:
        r = JobRunner(store)
        yield r
        r.shutdown(grace=5)


def texts(runner: JobRunner, job_id: str) -> dict[str, list[str]]:
    job = runner.store.require_job(job_id)
    return {"info": [m.message for m in job.info_messages], "warning": [m.message for m in job.warning_messages],
            "error": [m.message for m in job.error_messages]}


def test_two_concurrent_jobs_in_one_process_keep_their_records_apart(runner: JobRunner) -> None:
    both_running = threading.Barrier(2, timeout=10)

    def work(ctl: PipelineController, name: str) -> None:
        both_running.wait()  # the two handlers log at the same time, on two threads
        for i in range(20):
            LIB.info("%s step %d", name, i)
        LIB.warning("%s is slow", name)
        try:
            raise KeyError(name)
        except KeyError:
            LIB.exception("%s lookup failed", name)
        LIB.debug("%s debug is below the capture level", name)
        ctl.info(f"{name} said this itself")  # through the controller: once, not twice

    runner.register("Work", work, max_concurrent=2, capture_logs=True)
    a = runner.start("Work", "t", {"name": "alpha"})
    b = runner.start("Work", "t", {"name": "beta"})
    for job_id, name, other in ((a.id, "alpha", "beta"), (b.id, "beta", "alpha")):
        assert runner.wait(job_id, 10).status is JobStatus.COMPLETED
        got = texts(runner, job_id)
        assert got["info"] == [f"acme.lib: {name} step {i}" for i in range(20)] + [f"{name} said this itself"]
        assert got["warning"] == [f"acme.lib: {name} is slow"]
        assert got["error"] == [f"acme.lib: {name} lookup failed (KeyError: '{name}')"]
        assert not any(other in m for kind in got.values() for m in kind)


def test_async_jobs_capture_their_own_tasks(runner: JobRunner) -> None:
    both_running = asyncio.Event()
    started: list[str] = []

    async def child(name: str) -> None:
        await asyncio.sleep(0)
        LIB.warning("%s child task", name)

    async def work(ctl: PipelineController, name: str) -> None:
        started.append(name)
        if len(started) == 2:
            both_running.set()
        await asyncio.wait_for(both_running.wait(), 10)
        for i in range(5):
            LIB.info("%s tick %d", name, i)
            await asyncio.sleep(0)  # the other job's task runs in between, on the same loop thread
        await asyncio.gather(child(name), asyncio.create_task(child(name)))

    runner.register("Async", work, max_concurrent=2, capture_logs=True)
    a = runner.start("Async", "t", {"name": "alpha"})
    b = runner.start("Async", "t", {"name": "beta"})
    for job_id, name in ((a.id, "alpha"), (b.id, "beta")):
        assert runner.wait(job_id, 10).status is JobStatus.COMPLETED
        got = texts(runner, job_id)
        assert got["info"] == [f"acme.lib: {name} tick {i}" for i in range(5)]
        assert got["warning"] == [f"acme.lib: {name} child task"] * 2


def test_block_capture_and_other_threads(runner: JobRunner) -> None:
    def work(ctl: PipelineController) -> None:
        LIB.info("before the block")
        with ctl.capture_logs():
            LIB.info("inside the block")
            helper = threading.Thread(target=LIB.info, args=("from a thread the job started",))
            helper.start()
            helper.join()
        LIB.info("after the block")

    runner.register("Block", work)
    job = runner.start("Block", "t")
    assert runner.wait(job.id, 10).status is JobStatus.COMPLETED
    LIB.info("not in any job")
    assert texts(runner, job.id)["info"] == ["acme.lib: inside the block"]


def test_floods_are_rate_limited_and_reported(runner: JobRunner) -> None:
    def flood(ctl: PipelineController) -> None:
        for i in range(5000):
            LIB.info("line %d", i)

    runner.register("Flood", flood, capture_logs=True)
    job = runner.start("Flood", "t")
    assert runner.wait(job.id, 30).status is JobStatus.COMPLETED
    got = texts(runner, job.id)
    # Only the flood's lines are counted: on a loaded machine jobdeck may add a message of its own to the job
    # (about a slow store, say), which is neither a captured record nor a dropped one.
    lines = [m for m in got["info"] if m.startswith("acme.lib: ")]
    assert BURST <= len(lines) < 1000  # the burst, plus what the rate allowed while it ran
    assert lines[0] == "acme.lib: line 0"
    (report,) = [m for m in got["warning"] if "log record(s) not recorded" in m]
    dropped = int(report.split()[0])
    assert dropped == 5000 - len(lines), [m for m in got["info"] if not m.startswith("acme.lib: ")]


def test_a_finished_job_breaks_nothing(runner: JobRunner) -> None:
    def odd(ctl: PipelineController) -> None:
        LIB.info("while running")
        ctl.complete({"done": True})
        LIB.info("after the job ended")  # refused by the store: silently, the handler still returns

    runner.register("Odd", odd, capture_logs=True)
    job = runner.start("Odd", "t")
    done = runner.wait(job.id, 10)
    assert done.status is JobStatus.COMPLETED and done.result == {"done": True}
    assert texts(runner, job.id)["info"] == ["acme.lib: while running"]


def test_an_unformattable_record_is_recorded_as_such() -> None:
    record = logging.LogRecord("acme.lib", logging.INFO, __file__, 1, "%d items", ("not a number",), None)
    assert _text(record) == "acme.lib: '%d items' (unformattable arguments)"
    long = logging.LogRecord("acme.lib", logging.INFO, __file__, 1, "x" * 10_000, None, None)
    assert len(_text(long)) == MAX_CHARS and _text(long).endswith("…")
