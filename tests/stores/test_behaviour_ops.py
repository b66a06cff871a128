"""What operating jobdeck relies on, on every backend: who asked for an abort, one-time claims shared by every
store object on one location, and transition observers that see only this object's own transitions."""

from __future__ import annotations

import threading

from jobdeck.core.model import JobStatus
from jobdeck.stores import Store
from jobdeck.stores.base import STALE_PREFIX, Transition

from .conftest import Backend


def test_abort_records_who_asked(store: Store) -> None:
    job = store.create_job("Import", "alice")
    assert store.request_abort(job.id, "wrong file", by="bob@example.com")
    stored = store.require_job(job.id)
    assert stored.aborted_by == "bob@example.com"
    assert stored.to_dict()["abortedBy"] == "bob@example.com"
    assert [m.message for m in stored.warning_messages] == ["Abort requested by bob@example.com: wrong file"]
    assert store.mark_aborted(job.id)
    assert store.get_past_jobs()[0].aborted_by == "bob@example.com"


def test_abort_without_by_keeps_none(store: Store) -> None:
    job = store.create_job("Import", "alice")
    assert store.request_abort(job.id)
    assert store.require_job(job.id).aborted_by is None
    assert store.require_job(job.id).to_dict()["abortedBy"] is None


def test_claim_is_won_once_across_threads_and_store_objects(backend: Backend) -> None:
    stores = [backend.open(), backend.open()] if backend.shared else [backend.open()]
    wins: list[str] = []
    lock = threading.Lock()

    def contend(store: Store, n: int) -> None:
        for i in range(20):
            if store.claim(f"notify:job-{i}:http://127.0.0.1/hook", holder=f"t{n}"):
                with lock:
                    wins.append(f"job-{i}")

    threads = [threading.Thread(target=contend, args=(stores[n % len(stores)], n)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(f"job-{i}" for i in range(20))
    assert stores[0].claim("another") is True


def test_observers_see_this_objects_transitions_once(backend: Backend) -> None:
    store = backend.open()
    other = backend.open() if backend.shared else store
    seen: list[Transition] = []
    store.add_observer(seen.append)
    a = store.create_job("Import", "alice")
    b = store.create_job("Export", "alice")
    assert store.complete_job(a.id, {"n": 1})
    assert not store.complete_job(a.id)  # refused: nothing observed
    assert store.fail_job(b.id, "boom")
    assert [(t.job.id, t.job.status, t.created) for t in seen] == [
        (a.id, JobStatus.RUNNING, True), (b.id, JobStatus.RUNNING, True),
        (a.id, JobStatus.COMPLETED, False), (b.id, JobStatus.FAILED, False)]
    assert seen[2].job.end_time is not None and seen[2].job.job_type == "Import"
    if other is not store:
        c = other.create_job("Import", "bob")
        other.fail_job(c.id, "elsewhere")
        assert len(seen) == 4  # another object's (another process's) transitions are its own to count
    store.remove_observer(seen.append)
    d = store.create_job("Import", "carol")
    assert len(seen) == 4 and d.id


def test_observer_failure_never_reaches_the_job(store: Store) -> None:
    def broken(t: Transition) -> None:
        raise RuntimeError("observer bug")

    store.add_observer(broken)
    job = store.create_job("Import", "alice")
    assert store.complete_job(job.id)
    assert store.require_job(job.id).status is JobStatus.COMPLETED


def test_reaped_transition_is_marked(backend: Backend) -> None:
    store = backend.open(stale_after=0.05)
    seen: list[Transition] = []
    store.add_observer(seen.append)
    job = store.create_job("Import", "alice")
    assert store.reap_stale(now=job.start_time + 10) == [job.id]
    assert seen[-1].reaped and seen[-1].job.status is JobStatus.FAILED
    assert store.require_job(job.id).error_messages[0].message.startswith(STALE_PREFIX)
