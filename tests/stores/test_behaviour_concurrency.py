"""Store semantics under concurrency and over time, for every backend: staleness and reaping, races on
``max_active``, many threads at once, retention, and bounded size. For SQLite, Redis and PostgreSQL the races also run
between two store objects on one location, as two processes would."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from jobdeck.core.errors import JobConflictError
from jobdeck.core.model import JobStatus
from jobdeck.stores import MemoryStore, Store
from jobdeck.stores.postgres import PostgresStore
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for

from .conftest import Backend

T = TypeVar("T")


def race(workers: list[Callable[[], T]]) -> list[T | BaseException]:
    """Run the callables at once (released together by a barrier); results or exceptions, in order."""
    barrier = threading.Barrier(len(workers))

    def run(fn: Callable[[], T]) -> T | BaseException:
        barrier.wait(timeout=10)
        try:
            return fn()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(workers)) as pool:
        return list(pool.map(run, workers))


def stores_for_race(backend: Backend, n: int, **limits: object) -> list[Store]:
    """One store shared by all threads for memory; two store objects alternating otherwise."""
    if not backend.shared:
        one = backend.open(**limits)
        return [one] * n
    pair = [backend.open(**limits), backend.open(**limits)]
    return [pair[i % 2] for i in range(n)]


# ---------------------------------------------------------------------- staleness


def test_stale_detection_and_heartbeat(backend: Backend) -> None:
    store = backend.open(stale_after=5)
    silent = store.create_job("T", "me")
    busy = store.create_job("T", "me", owner="host:1:abc")
    wait_for(lambda: time.time() > busy.start_time + 0.2, timeout=2, what="the clock to move")
    assert store.heartbeat(busy.id, "host:1:abc")
    soon = silent.start_time + 5.1  # past stale_after for both, but busy's heartbeat is younger than that
    assert store.stale_reason(store.require_job(silent.id), soon) is not None
    assert store.stale_reason(store.require_job(busy.id), soon) is None
    assert store.reap_stale(now=silent.start_time + 4) == []
    assert store.reap_stale(now=soon) == [silent.id]
    failed = store.require_job(silent.id)
    assert failed.status is JobStatus.FAILED
    assert len(failed.error_messages) == 1 and "no process ever sent a heartbeat" in failed.error_messages[0].message
    assert store.require_job(busy.id).status is JobStatus.RUNNING
    later = store.reap_stale(now=time.time() + 60)
    assert later == [busy.id]
    assert "host:1:abc" in store.require_job(busy.id).error_messages[0].message


def test_progress_keeps_a_job_alive(store: Store) -> None:
    job = store.create_job("T", "me")
    wait_for(lambda: time.time() > job.start_time + 0.2, timeout=2, what="the clock to move")
    store.update_progress(job.id, 0.5)
    assert store.reap_stale(now=job.start_time + store.stale_after + 0.1) == []
    assert store.require_job(job.id).status is JobStatus.RUNNING


def test_two_reapers_fail_each_job_exactly_once(backend: Backend) -> None:
    stores = stores_for_race(backend, 6, stale_after=1)
    jobs = [stores[0].create_job("T", "me") for _ in range(10)]
    future = time.time() + 100
    results = race([lambda s=s: s.reap_stale(now=future) for s in stores])  # type: ignore[misc]
    reaped: list[str] = []
    for r in results:
        assert isinstance(r, list), r
        reaped += r
    assert sorted(reaped) == sorted(j.id for j in jobs)  # every job once, none twice
    for job in jobs:
        stored = stores[1].require_job(job.id)
        assert stored.status is JobStatus.FAILED
        assert len(stored.error_messages) == 1


# ---------------------------------------------------------------------- max_active races


def test_max_active_holds_under_a_race(backend: Backend) -> None:
    stores = stores_for_race(backend, 8)
    results = race([lambda s=s: s.create_job("Import", "me", max_active=1) for s in stores])  # type: ignore[misc]
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(e, JobConflictError) for e in losers), losers
    assert [j.id for j in stores[1].get_active_jobs("Import")] == [winners[0].id]  # type: ignore[union-attr]


# ---------------------------------------------------------------------- many threads


def test_many_threads_lose_nothing(backend: Backend) -> None:
    stores = stores_for_race(backend, 6)
    per_thread, messages = 3, 40

    def work(s: Store, n: int) -> list[str]:
        ids = [s.create_job(f"T{n}", f"worker{n}").id for _ in range(per_thread)]
        for i in range(messages):
            for job_id in ids:
                s.update_progress(job_id, i / messages)
                s.add_info_message(job_id, f"{n}:{i}")
        for job_id in ids:
            s.complete_job(job_id, {"worker": n})
        return ids

    results = race([lambda s=s, n=n: work(s, n) for n, s in enumerate(stores)])  # type: ignore[misc]
    reader = stores[0]
    for n, ids in enumerate(results):
        assert isinstance(ids, list), ids
        for job_id in ids:
            job = reader.require_job(job_id)
            assert job.status is JobStatus.COMPLETED and job.progress == 1.0 and job.result == {"worker": n}
            assert [m.message for m in job.info_messages] == [f"{n}:{i}" for i in range(messages)]
    assert reader.stats()["completed"] == per_thread * len(stores)


# ---------------------------------------------------------------------- retention and size


def test_retention_evicts_oldest_finished_never_active(backend: Backend) -> None:
    store = backend.open(max_past_jobs=3)
    keep_running = store.create_job("T", "me")
    done = []
    for i in range(6):
        job = store.create_job("T", "me")
        store.add_info_message(job.id, f"job {i}")
        store.complete_job(job.id)
        done.append(job.id)
    assert [j.id for j in store.get_past_jobs()] == done[:2:-1]
    assert all(store.get_job(i) is None for i in done[:3])
    assert store.get_job(keep_running.id) is not None
    assert store.get_status(keep_running.id) is JobStatus.RUNNING


def test_retention_by_age(backend: Backend) -> None:
    store = backend.open(max_past_age=0.3)
    old = store.create_job("T", "me")
    store.complete_job(old.id)
    end = store.require_job(old.id).end_time
    assert end is not None
    active = store.create_job("T", "me")
    wait_for(lambda: time.time() > end + 0.4, timeout=3, what="the first job to age")
    new = store.create_job("T", "me")
    store.complete_job(new.id)  # finishing a job applies retention
    assert store.get_job(old.id) is None
    assert [j.id for j in store.get_past_jobs()] == [new.id]
    assert store.get_job(active.id) is not None


def size_of(store: Store) -> int:
    if isinstance(store, MemoryStore):
        return len(store._jobs)
    if isinstance(store, SQLiteStore | PostgresStore):
        return sum(store.count_rows().values())
    assert isinstance(store, RedisStore)
    return store.count_keys()


@pytest.mark.slow
def test_size_stays_bounded(backend: Backend) -> None:
    rounds = 100_000 if backend.name == "memory" else 3_000
    store = backend.open(max_past_jobs=20, max_events=200, max_messages=5)
    active = [store.create_job("Keep", "me") for _ in range(3)]
    sizes = []
    for i in range(rounds):
        job = store.create_job("T", "me")
        if i % 10 == 0:
            store.add_info_message(job.id, "x")
            store.update_progress(job.id, 0.5)
        (store.complete_job if i % 3 else store.fail_job)(job.id)
        if i % (rounds // 4) == rounds // 4 - 1:
            sizes.append(size_of(store))
    assert len(store.get_past_jobs()) == 20
    assert [j.id for j in store.get_active_jobs()] == [j.id for j in active]
    stats = store.stats()
    assert stats["completed"] + stats["failed"] == 20 and stats["running"] == 3
    if isinstance(store, SQLiteStore | PostgresStore):
        rows = store.count_rows()
        assert rows["jobs"] == 23 and rows["events"] <= 200 and rows["messages"] <= 20
    elif isinstance(store, RedisStore):
        # the stream is trimmed approximately (whole nodes of 100 entries)
        assert store._redis.xlen(store._events_key) <= 200 + 100
    else:
        assert len(store._events) <= 200
    # The size after a quarter of the rounds is the size at the end: nothing grows with the number of jobs.
    assert max(sizes) - min(sizes) <= 10, sizes


def test_changes_by_another_store_object_are_seen(shared_backend: Backend) -> None:
    max_age = 0.1  # what check_abort() uses
    a, b = shared_backend.open(), shared_backend.open()
    job = a.create_job("T", "me")
    assert a.get_status(job.id, max_age=max_age) is JobStatus.RUNNING
    assert b.request_abort(job.id, "from elsewhere")
    wait_for(lambda: a.get_status(job.id, max_age=max_age) is JobStatus.ABORTING, timeout=2,
             what="the abort to reach the other store object")
    for i in range(50):
        a.update_progress(job.id, i / 100)
    a.update_progress(job.id, 0.77)  # not flushed: the background writer must deliver it
    wait_for(lambda: b.require_job(job.id).progress == 0.77, timeout=2, what="coalesced progress to arrive")
    a.mark_aborted(job.id)
    assert b.get_status(job.id) is JobStatus.ABORTED
    assert a.get_status(job.id, max_age=60) is JobStatus.ABORTED  # own changes are seen at once


def test_progress_writes_are_coalesced(shared_backend: Backend) -> None:
    store = shared_backend.open()
    job = store.create_job("T", "me")
    cursor = store.read_events().cursor
    started = time.monotonic()
    for i in range(3000):
        store.update_progress(job.id, i / 3000)
    store.update_progress(job.id, 0.99)
    store.flush()
    elapsed = time.monotonic() - started  # the writes' own time included: a slow first write moves every due time
    progress = []
    while True:
        batch = store.read_events(cursor)
        assert not batch.reset
        if not batch.events:
            break
        progress += [e.data["progress"] for e in batch.events if e.job_id == job.id and e.type.value == "progress"]
        cursor = batch.cursor
    assert progress[-1] == 0.99  # the newest value is always written
    assert progress == sorted(progress)  # and never overtaken by an older one
    # At most one write per interval (plus the first and the flushed last), however many calls. A write that
    # overlapped a newer one's is followed by the newer value again (the buffer's guard against an older value
    # landing last, see stores/_coalesce.py): the same value twice in a row is that guard, not another write.
    distinct = [v for n, v in enumerate(progress) if n == 0 or v != progress[n - 1]]
    assert len(distinct) <= 3 + elapsed / 0.05, (progress, elapsed)
