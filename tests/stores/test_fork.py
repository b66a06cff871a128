"""Write buffers keep working in a forked child (pre-forking worker pools): its writer threads start again, and
it never re-writes what its parent had queued."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from jobdeck.core.model import JobMessage, JobStatus, MessageType
from jobdeck.stores._buffer import MessageBuffer, Write
from jobdeck.stores._coalesce import ProgressBuffer, StatusCache
from tests.stores.conftest import Backend

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


def in_child(body: Callable[[], bool]) -> None:
    """Run ``body`` in a forked child; the test fails unless it returns True (within the child's own deadline)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status only
        code = 1
        try:
            code = 0 if body() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the check in the forked child failed"


def until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_progress_buffer_writes_the_newest_value_in_a_forked_child() -> None:
    written: list[tuple[str, float]] = []

    def write(job_id: str, value: float, operation: object, now: float, operations: object) -> bool:
        written.append((job_id, value))
        return True

    buffer = ProgressBuffer(write, interval=0.05)  # type: ignore[arg-type]
    buffer.update("j", 0.1, None, time.time())
    buffer.update("j", 0.2, None, time.time())  # coalesced: the parent's writer thread now exists
    assert until(lambda: written[-1] == ("j", 0.2))

    def child() -> bool:
        written.clear()
        buffer.update("j", 0.3, None, time.time())
        buffer.update("j", 0.7, None, time.time())  # waits for the writer thread, which must run here too
        return until(lambda: bool(written) and written[-1] == ("j", 0.7))

    in_child(child)
    buffer.close()


def test_message_buffer_writes_in_a_forked_child_and_not_the_parents_queue() -> None:
    batches: list[list[Write]] = []
    release = [False]

    def write_batch(writes: list[Write]) -> dict[str, JobStatus | None]:
        if not release[0]:
            raise OSError("the parent's store is slow")  # keeps the parent's messages queued across the fork
        batches.append(list(writes))
        return {}

    progress = ProgressBuffer(lambda *a: True, interval=0.05)
    buffer = MessageBuffer(write_batch, lambda job_id, message: True, progress, StatusCache(), interval=0.001)
    now = time.time()
    buffer.add("j", JobMessage(MessageType.INFO, "first", now))  # written at once (first of the job)
    buffer.add("j", JobMessage(MessageType.INFO, "parent's", now))  # queued; its writes fail for now

    def child() -> bool:
        release[0] = True
        buffer.add("j", JobMessage(MessageType.INFO, "child's", time.time()))
        texts = lambda: [w.message for batch in batches for _, w in batch if isinstance(w, JobMessage)]  # noqa: E731
        return until(lambda: texts() == ["child's"]) and texts() == ["child's"]

    in_child(child)
    release[0] = True
    buffer.close()
    assert [w.message for batch in batches for _, w in batch] == ["parent's"]  # the parent wrote its own


def test_a_store_used_in_a_forked_child_writes_its_progress(redis_url: str, tmp_path: object) -> None:
    backend = Backend("redis", f"{redis_url}#jobdeck-test-fork-{os.getpid()}-{time.monotonic_ns()}")
    try:
        store = backend.open(progress_interval=0.05)
        job = store.create_job("Forked", "me")
        store.update_progress(job.id, 0.1)
        store.update_progress(job.id, 0.2)  # the parent's progress writer thread is running

        def child() -> bool:
            store.update_progress(job.id, 0.3)
            store.update_progress(job.id, 0.7)
            reader = backend.open()
            return until(lambda: reader.require_job(job.id, messages=False).progress == 0.7)

        in_child(child)
        assert backend.open().require_job(job.id, messages=False).progress == 0.7
    finally:
        backend.close()
