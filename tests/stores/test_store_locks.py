"""Readers never hold a running job up, and no mix of readers, writers and status changes deadlocks.

The first test holds the store itself for real -- Redis paused for writes (``CLIENT PAUSE ... WRITE``), the job's
PostgreSQL row locked ``FOR UPDATE`` by another connection, SQLite's write lock taken by another connection --
so that a reader's catch-up write hangs in its round trip (holding the message buffer's write lock, its
progress write in flight); the running job's ``progress()`` and ``info()`` calls must all return while that
reader is still stuck. A call that waited for a lock the reader holds across its round trip would still be
waiting when the test gives up. No timing ratio: the order of events is what is asserted. (A job's very first
message and progress value through a store object are written by the caller, to learn that the job exists: they
come before the hold.)

The second runs reader, writer and status-changing threads together on every store, each thread bounded by a
deadline, and checks what every job ends up with.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from jobdeck.core.model import JobStatus
from jobdeck.stores import Store
from tests.conftest import wait_for
from tests.stores.conftest import Backend

DEADLINE = 30.0


class Worker(threading.Thread):
    """A daemon thread that records what its target raised."""

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._call = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._call()
        except BaseException as exc:  # reported by the test
            self.error = exc


@contextmanager
def store_held(backend: Backend, store: Any, job_id: str) -> Iterator[None]:
    """Writes of ``job_id`` hang in the store (for real) until the block ends."""
    if backend.name == "redis":
        client = redis.Redis.from_url(backend.location.rsplit("#", 1)[0])
        client.execute_command("CLIENT", "PAUSE", int(DEADLINE * 1000), "WRITE")
        try:
            yield
        finally:
            client.execute_command("CLIENT", "UNPAUSE")
            client.close()
    elif backend.name == "postgres":
        import psycopg

        url = backend.location.rsplit("#", 1)[0]
        with psycopg.connect(url) as conn:  # one transaction, open until the block ends
            conn.execute(f"SELECT 1 FROM {store.names.schema}.{store.names.prefix}jobs WHERE id = %s FOR UPDATE",
                         (job_id,))
            try:
                yield
            finally:
                conn.rollback()
    else:
        conn = sqlite3.connect(backend.location, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, held until the block ends
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()


def test_a_reader_stuck_in_a_round_trip_does_not_hold_up_the_running_job(shared_backend: Backend) -> None:
    store: Any = shared_backend.open(progress_interval=30.0)  # the second value stays pending until flushed
    job = store.create_job("T", "me")
    store.update_progress(job.id, 0.1)  # the first value is written at once, and starts the 30 s interval
    store.add_info_message(job.id, "start")  # so is the first message
    store.update_progress(job.id, 0.2)  # pending: the reader's catch-up will write it
    with store_held(shared_backend, store, job.id):
        reader = Worker(lambda: store.get_job(job.id), "reader")
        reader.start()
        wait_for(lambda: store._progress._inflight, timeout=DEADLINE, what="the reader's write to be in flight")

        def run_job() -> None:
            for i in range(200):
                store.update_progress(job.id, 0.3 + i / 1000)
                store.add_info_message(job.id, f"step {i}")

        writer = Worker(run_job, "job")
        writer.start()
        writer.join(DEADLINE)
        assert not writer.is_alive(), "the job's calls waited for the reader's round trip"
        assert writer.error is None
        assert reader.is_alive(), "the store was not held: the test proves nothing"
    reader.join(DEADLINE)
    assert not reader.is_alive() and reader.error is None
    stored = store.require_job(job.id)
    assert [m.message for m in stored.info_messages] == ["start"] + [f"step {i}" for i in range(200)]
    assert stored.progress == pytest.approx(0.3 + 199 / 1000)


def test_readers_writers_and_status_changes_together_never_deadlock(backend: Backend) -> None:
    fast = {"progress_interval": 0.005} if backend.shared else {}  # many writes by the buffers' threads
    store: Store = backend.open(max_past_jobs=10_000, **fast)
    other = backend.open(max_past_jobs=10_000) if backend.shared else store  # as another process sees it
    stop = threading.Event()
    done: list[str] = []

    def write(n: int) -> None:
        for k in range(2):
            job = store.create_job("T", "me")
            for i in range(40):
                store.update_progress(job.id, i / 40)
                store.add_info_message(job.id, f"{n}.{k}.{i}")
                if i % 10 == 0:
                    store.get_job(job.id)  # the job reads itself now and then, as job code may
            store.complete_job(job.id, {"n": n, "k": k})
            done.append(job.id)

    def read(view: Store) -> Callable[[], None]:
        def loop() -> None:
            cursor = view.read_events().cursor
            while not stop.is_set():
                for active in view.get_active_jobs(messages=3):
                    view.get_job(active.id)
                view.get_past_jobs(limit=20, messages=False)
                view.stats()
                cursor = view.read_events(cursor).cursor
        return loop

    def change() -> None:
        for _ in range(30):
            if stop.is_set():
                return
            victim = store.create_job("Aborted", "me")
            store.add_info_message(victim.id, "about to go")
            store.request_abort(victim.id, "admin")
            other.flush()
            store.fail_job(victim.id, "stopped")

    writers = [Worker(lambda n=n: write(n), f"writer-{n}") for n in range(2)]
    others = [Worker(read(store if n % 2 else other), f"reader-{n}") for n in range(6)]
    others.append(Worker(change, "changer"))
    for t in writers + others:
        t.start()
    for t in writers:
        t.join(2 * DEADLINE)  # a loaded 2-core machine can slow this twenty-fold; a deadlock never ends
    stop.set()
    for t in others:
        t.join(DEADLINE)
    stuck = [t.name for t in writers + others if t.is_alive()]
    assert not stuck, f"threads still running after {DEADLINE:g}s (a deadlock?): {stuck}"
    errors = [f"{t.name}: {t.error!r}" for t in writers + others if t.error is not None]
    assert not errors
    assert len(done) == 4
    for job_id in done:
        job = other.require_job(job_id)
        assert job.status is JobStatus.COMPLETED and job.progress == 1.0
        n, k = job.result["n"], job.result["k"]
        assert [m.message for m in job.info_messages] == [f"{n}.{k}.{i}" for i in range(40)]
