"""Coalesced progress (stores/_coalesce.py): after a job's first value, the caller of ``progress()`` never writes.

A write releases the interpreter lock for its I/O; a job thread that gave it up waits for it again behind every
busy thread of the process (a server's request threads), so the write belongs to the buffer's own thread."""

from __future__ import annotations

import threading
import time

from jobdeck.stores._coalesce import ProgressBuffer
from tests.conftest import wait_for


def test_only_the_first_value_is_written_by_the_caller() -> None:
    written: list[tuple[float, threading.Thread]] = []

    def write(job_id: str, value: float, operation: object, now: float, operations: object) -> bool:
        written.append((value, threading.current_thread()))
        return True

    buffer = ProgressBuffer(write, interval=0.01)  # type: ignore[arg-type]
    try:
        caller = threading.current_thread()
        buffer.update("j", 0.1, None, time.time())
        assert written == [(0.1, caller)]  # the first value at once: it must learn that the job exists
        for step in range(2, 8):
            value = step / 10
            due = time.monotonic() + 0.02
            wait_for(lambda: time.monotonic() > due, timeout=5, what="the interval to pass")  # noqa: B023
            buffer.update("j", value, None, time.time())  # past the interval: written, but not by the caller
            wait_for(lambda: written[-1][0] == value, timeout=5, what=f"{value} written")  # noqa: B023
        assert len(written) == 7
        assert all(thread is not caller for _, thread in written[1:])
    finally:
        buffer.close()



def test_two_writes_of_one_job_never_overlap() -> None:
    # A slow store (each write takes 20 ms) under a job updating as fast as it can and another thread flushing:
    # a store that numbers events at commit would see an older value land after a newer one if writes overlapped.
    lock = threading.Lock()
    busy: dict[str, int] = {}
    most: dict[str, int] = {}
    landed: list[float] = []

    def write(job_id: str, value: float, operation: object, now: float, operations: object) -> bool:
        with lock:
            busy[job_id] = busy.get(job_id, 0) + 1
            most[job_id] = max(most.get(job_id, 0), busy[job_id])
        time.sleep(0.02)  # the store's round trip
        with lock:
            busy[job_id] -= 1
            landed.append(value)
        return True

    buffer = ProgressBuffer(write, interval=0.005)  # type: ignore[arg-type]
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            buffer.flush("j")

    other = threading.Thread(target=flusher)
    try:
        other.start()
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 0.5:
            n += 1
            buffer.update("j", n / 1e6, None, time.time())
        stop.set()
        other.join(10)
        buffer.flush("j")
        assert most == {"j": 1}
        assert landed == sorted(landed) and landed[-1] == n / 1e6  # in order, the newest last
        assert len(landed) > 5  # the flusher and the background thread both wrote
    finally:
        stop.set()
        buffer.close()
