"""The change log under concurrent writers: no event lost, duplicated or reordered, and (PostgreSQL) no writer
waiting for another one's transaction to log its events.

What readers rely on is listed in ``jobdeck.stores._pg_events``: a cursor never skips an event, every reader sees
one order, a job's events come in the order of its calls, a read includes what was committed before it. A
reader follows the log with ``wait_events`` while 8 writers (threads, and on PostgreSQL also processes) each
run jobs; then the log is read again from the start.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest

from jobdeck.core.events import EventType, JobEvent
from jobdeck.stores import Store
from jobdeck.stores.postgres import PostgresStore
from tests.stores.conftest import Backend

WRITERS = 8
JOBS = 3
MESSAGES = 25
DEADLINE = 60.0



def run_writer(store: Store, n: int) -> None:
    """Writer ``n``: JOBS jobs of type ``w{n}``, each MESSAGES messages with progress between them, completed."""
    for k in range(JOBS):
        job = store.create_job(f"w{n}", "me", {"k": k})
        for i in range(MESSAGES):
            store.update_progress(job.id, i / MESSAGES)
            store.add_info_message(job.id, f"{n}.{k}.{i}")
        store.complete_job(job.id)


def _process_writer(url: str, schema: str, n: int) -> None:
    store = PostgresStore(url, schema=schema)
    try:
        run_writer(store, n)
    finally:
        store.close()


def follow(reader: Store, cursor: str, done: Callable[[list[JobEvent]], bool]) -> list[JobEvent]:
    """Every event after ``cursor`` until ``done(events)``, read the way /events reads them."""
    seen: list[JobEvent] = []
    import time

    deadline = time.monotonic() + DEADLINE
    while not done(seen):
        assert time.monotonic() < deadline, f"the reader saw {len(seen)} events and waited for more"
        batch = reader.wait_events(cursor, 0.5)
        assert not batch.reset
        seen += batch.events
        cursor = batch.cursor
    return seen


def check(seen: list[JobEvent], again: list[JobEvent]) -> None:
    """No event lost, duplicated or reordered: each job's events in the order of its calls."""
    assert [e.id for e in seen] == [e.id for e in again], "a second reader saw another order"
    assert len({e.id for e in seen}) == len(seen), "an event was delivered twice"
    per_job: dict[str, list[JobEvent]] = {}
    for event in seen:
        per_job.setdefault(event.job_id, []).append(event)
    assert len(per_job) == WRITERS * JOBS
    for events in per_job.values():
        kinds = [e.type for e in events]
        assert kinds[0] is EventType.CREATED and kinds[-1] is EventType.STATUS
        assert events[-1].data["status"] == "completed"
        texts = [e.data["message"]["message"] for e in events if e.type is EventType.MESSAGE]
        n, k = texts[0].split(".")[:2]
        assert texts == [f"{n}.{k}.{i}" for i in range(MESSAGES)], "messages lost or out of order"
        progress = [e.data["progress"] for e in events if e.type is EventType.PROGRESS]
        # Coalesced: some values are never written, and one may be written again after a newer one overtook
        # it; the newest always lands last.
        assert progress[-1] == (MESSAGES - 1) / MESSAGES


def _completed(seen: list[JobEvent]) -> bool:
    return sum(1 for e in seen if e.type is EventType.STATUS and e.data.get("status") == "completed") == \
        WRITERS * JOBS


def test_concurrent_writer_threads_lose_and_reorder_no_event(shared_backend: Backend) -> None:
    reader = shared_backend.open(max_events=100_000)
    start = reader.read_events().cursor
    writers = [shared_backend.open(max_events=100_000) for _ in range(WRITERS)]
    got: list[list[JobEvent]] = []
    follower = threading.Thread(target=lambda: got.append(follow(reader, start, _completed)), daemon=True)
    follower.start()
    threads = [threading.Thread(target=run_writer, args=(writers[n], n), daemon=True) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert not any(t.is_alive() for t in threads)
    follower.join(DEADLINE)
    assert got, "the reader did not see every job complete"
    seen = [e for e in got[0] if e.type is not EventType.REMOVED]
    check(seen, follow(shared_backend.open(max_events=100_000), start, lambda s: len(s) >= len(got[0]))[:len(seen)])


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_writer_processes_lose_and_reorder_no_event(postgres_url: str, schema: str) -> None:
    reader = PostgresStore(postgres_url, schema=schema, max_events=100_000)
    try:
        start = reader.read_events().cursor
        got: list[list[JobEvent]] = []
        follower = threading.Thread(target=lambda: got.append(follow(reader, start, _completed)), daemon=True)
        follower.start()
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_process_writer, args=(postgres_url, schema, n)) for n in range(WRITERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(DEADLINE)
        assert [p.exitcode for p in procs] == [0] * WRITERS
        follower.join(DEADLINE)
        assert got, "the reader did not see every job complete"
        check(got[0], follow(reader, start, lambda s: len(s) >= len(got[0])))
    finally:
        reader.close()


@pytest.mark.postgres
def test_a_writer_never_waits_for_another_transaction_to_log_events(postgres_url: str, schema: str) -> None:
    """An open transaction that logged an event (a caller's own, through ``using``) holds up no other writer (the
    event counter's row lock did); readers meanwhile see the other writer's events, and the held one's once it
    commits, after them: nothing is skipped."""
    import psycopg

    held = PostgresStore(postgres_url, schema=schema)
    free = PostgresStore(postgres_url, schema=schema)
    reader = PostgresStore(postgres_url, schema=schema)
    try:
        start = reader.read_events().cursor
        with psycopg.connect(postgres_url) as conn:
            with conn.transaction(), held.using(conn):
                held.create_job("Held", "me")

                def write() -> None:
                    job = free.create_job("Free", "me")
                    free.add_info_message(job.id, "free to go")
                    free.complete_job(job.id)

                writer: list[Any] = []
                t = threading.Thread(target=lambda: writer.append(write()), daemon=True)
                t.start()
                t.join(10)
                assert not t.is_alive(), "a writer waited for another transaction's event log"
                assert writer
                early = reader.read_events(start)
                assert [e.type for e in early.events] == [EventType.CREATED, EventType.MESSAGE, EventType.STATUS]
        late = reader.read_events(early.cursor)
        assert [(e.type, e.data.get("jobType")) for e in late.events] == [(EventType.CREATED, "Held")]
        everything = reader.read_events(start).events
        assert [e.id for e in everything] == [e.id for e in early.events + late.events]
    finally:
        for store in (held, free, reader):
            store.close()
