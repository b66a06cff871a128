"""The worker registry on every store (issue 22): a beat writes or replaces a record, another store object on the
same location sees it, a clean stop forgets it, and records past the retention window are dropped."""

from __future__ import annotations

import time

from jobdeck.core.workers import WORKER_RETENTION, RunningRef, WorkerInfo
from tests.stores.conftest import Backend


def _worker(token: str, *, jobs: tuple[RunningRef, ...] = (), started: float = 1000.0) -> WorkerInfo:
    return WorkerInfo(f"host-a:42:{token}", "host-a", 42, "celery", ("DataImport", "Condense"), 4, started,
                      jobs=jobs)


def test_a_beat_records_the_worker_and_a_second_one_replaces_it(backend: Backend) -> None:
    store = backend.open()
    store.beat_worker(_worker("aaa"))
    running = RunningRef("3fa2c1d0-0000-4000-8000-000000000000", "DataImport", time.time() - 60)
    store.beat_worker(_worker("aaa", jobs=(running,)))
    (seen,) = store.get_workers()
    assert (seen.id, seen.host, seen.pid, seen.executor, seen.concurrency) == ("host-a:42:aaa", "host-a", 42,
                                                                               "celery", 4)
    assert seen.job_types == ("DataImport", "Condense")
    assert [(j.id, j.job_type) for j in seen.jobs] == [(running.id, "DataImport")]
    assert abs(seen.jobs[0].started_time - running.started_time) < 0.002
    assert abs(seen.last_seen - time.time()) < 5
    assert seen.live(time.time(), store.stale_after)
    assert seen.free_slots() == 3


def test_another_store_object_sees_the_workers_newest_first(backend: Backend) -> None:
    store = backend.open()
    store.beat_worker(_worker("old", started=1000.0))
    store.beat_worker(_worker("new", started=2000.0))
    reader = backend.open() if backend.shared else store
    assert [w.id for w in reader.get_workers()] == ["host-a:42:new", "host-a:42:old"]


def test_a_clean_stop_forgets_the_worker(backend: Backend) -> None:
    store = backend.open()
    store.beat_worker(_worker("aaa"))
    store.beat_worker(_worker("bbb"))
    store.forget_worker("host-a:42:aaa")
    store.forget_worker("host-a:42:never-there")
    assert [w.id for w in store.get_workers()] == ["host-a:42:bbb"]


def test_a_silent_worker_is_gone_after_stale_after_and_dropped_after_the_retention(backend: Backend) -> None:
    store = backend.open(stale_after=30)
    now = time.time()
    store.beat_worker(_worker("silent"), now=now - 31)
    store.beat_worker(_worker("ancient"), now=now - WORKER_RETENTION - 1)
    store.beat_worker(_worker("alive"), now=now)
    found = {w.id: w for w in store.get_workers(now=now)}
    assert set(found) == {"host-a:42:silent", "host-a:42:alive"}  # the ancient one was dropped by the last beat
    assert not found["host-a:42:silent"].live(now, store.stale_after)
    assert found["host-a:42:alive"].live(now, store.stale_after)


def test_a_damaged_record_is_skipped_and_an_unchanged_one_is_not_decoded_again(backend: Backend) -> None:
    store = backend.open()
    store.beat_worker(_worker("good"))
    store._worker_steps().put("host-a:42:bad", time.time(), "{not json", 0.0)
    (first,) = store.get_workers()
    (again,) = store.get_workers()
    assert first.id == "host-a:42:good" and again is first  # the same stored text: the same (frozen) object
