"""The ``queued`` status on every backend: creating, counting toward max_active, claiming, aborting, losing."""

from __future__ import annotations

import threading
import time

import pytest

from jobdeck.core.errors import JobConflictError
from jobdeck.core.events import EventType
from jobdeck.core.model import JobInfo, JobStatus
from jobdeck.stores import Store

from .conftest import Backend
from .test_behaviour import tick


def test_queued_job_is_active_waits_and_has_no_owner(store: Store) -> None:
    before = time.time()
    job = store.create_job("Report", "me", {"n": 1}, owner="ignored:1:x", queued=True)
    assert job.status is JobStatus.QUEUED and job.is_active
    assert job.owner is None and job.heartbeat_time is None
    assert job.queued_time is not None and before <= job.queued_time <= time.time()
    stored = store.require_job(job.id)
    assert stored.to_dict() == job.to_dict()
    assert stored.to_dict()["queuedTime"] is not None and stored.to_dict()["status"] == "queued"
    assert JobInfo.from_dict(stored.to_dict()).queued_time == pytest.approx(job.queued_time, abs=0.001)
    assert [j.id for j in store.get_active_jobs()] == [job.id]
    assert store.stats()["queued"] == 1
    waited = store.require_job(job.id).waited
    assert waited is not None and waited >= 0


def test_queued_jobs_count_toward_max_active(backend: Backend) -> None:
    store = backend.open()
    first = store.create_job("Report", "me", queued=True, max_active=1)
    with pytest.raises(JobConflictError) as caught:
        store.create_job("Report", "me", queued=True, max_active=1)
    assert caught.value.active_ids == [first.id]
    with pytest.raises(JobConflictError):
        store.create_job("Report", "me", max_active=1)  # a running start is refused by a queued job too
    if backend.shared:  # another process sees the queued job as taking the slot
        with pytest.raises(JobConflictError):
            backend.open().create_job("Report", "me", queued=True, max_active=1)
    store.request_abort(first.id)
    assert store.create_job("Report", "me", queued=True, max_active=1).status is JobStatus.QUEUED


def test_simultaneous_queued_starts_give_one_job(backend: Backend) -> None:
    stores = [backend.open() for _ in range(2)] if backend.shared else [backend.open()] * 2
    barrier = threading.Barrier(8)
    made: list[str] = []
    refused: list[str] = []

    def attempt(store: Store) -> None:
        barrier.wait()
        try:
            made.append(store.create_job("Report", "me", queued=True, max_active=1).id)
        except JobConflictError:
            refused.append("409")

    threads = [threading.Thread(target=attempt, args=(stores[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(refused) == 7


def test_claim_turns_queued_into_running_for_one_worker(store: Store) -> None:
    job = store.create_job("Report", "me", queued=True)
    tick(job.start_time)
    claimed = store.claim_job(job.id, "worker-host:4242:abc")
    assert claimed is not None and claimed.status is JobStatus.RUNNING
    assert claimed.owner == "worker-host:4242:abc"
    assert claimed.heartbeat_time is not None and claimed.start_time > job.queued_time  # type: ignore[operator]
    assert claimed.queued_time == pytest.approx(job.queued_time)
    assert claimed.waited is not None and claimed.waited > 0
    assert store.claim_job(job.id, "other:1:x") is None  # a second delivery is dropped
    assert store.require_job(job.id).owner == "worker-host:4242:abc"
    assert store.claim_job("no-such-job", "w:1:x") is None
    running = store.create_job("Local", "me", owner="here:1:x")
    assert store.claim_job(running.id, "w:1:x") is None  # only queued jobs can be claimed


def test_concurrent_claims_have_one_winner(backend: Backend) -> None:
    first = backend.open()
    job = first.create_job("Report", "me", queued=True)
    stores = [backend.open() for _ in range(4)] if backend.shared else [first] * 4
    barrier = threading.Barrier(8)
    winners: list[str] = []

    def claim(i: int) -> None:
        barrier.wait()
        if stores[i % 4].claim_job(job.id, f"w:{i}:x") is not None:
            winners.append(f"w:{i}:x")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert first.require_job(job.id).owner == winners[0]


def test_abort_of_a_queued_job_ends_it_at_once(store: Store) -> None:
    job = store.create_job("Report", "me", queued=True)
    cursor = store.read_events().cursor
    assert store.request_abort(job.id, "not needed") is True
    ended = store.require_job(job.id)
    assert ended.status is JobStatus.ABORTED and ended.end_time is not None
    assert ended.abort_reason == "not needed" and ended.abort_time is not None
    assert [m.message for m in ended.warning_messages] == ["Abort requested: not needed",
                                                           "Job aborted before it started"]
    assert store.is_abort_requested(job.id)
    assert store.claim_job(job.id, "w:1:x") is None  # a worker that still receives it cannot run it
    assert [j.id for j in store.get_past_jobs()] == [job.id]
    assert store.get_active_jobs() == []
    statuses = [e.data["status"] for e in store.read_events(cursor).events if e.type is EventType.STATUS]
    assert statuses == ["aborted"]


def test_queued_job_is_never_stale_but_can_be_failed_as_lost_once(store: Store) -> None:
    job = store.create_job("Report", "me", queued=True)
    far = time.time() + 10 * store.stale_after
    assert store.stale_reason(store.require_job(job.id), far) is None
    assert store.reap_stale(far) == []
    assert store.fail_lost(job.id, "the broker has no message for it") is True
    assert store.fail_lost(job.id, "again") is False
    failed = store.require_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert [m.message for m in failed.error_messages] == ["the broker has no message for it"]
    running = store.create_job("Report", "me", owner="h:1:x")
    assert store.fail_lost(running.id, "not queued") is False
    assert store.require_job(running.id).status is JobStatus.RUNNING
    assert store.fail_lost("no-such-job", "gone") is False


def test_claimed_job_goes_stale_like_any_running_one(store: Store) -> None:
    job = store.create_job("Report", "me", queued=True)
    store.claim_job(job.id, "worker:77:abc")
    far = time.time() + 10 * store.stale_after
    assert store.reap_stale(far) == [job.id]
    message = store.require_job(job.id).error_messages[-1].message
    assert "worker:77:abc" in message


def test_queued_job_takes_messages_and_keeps_creation_order(store: Store) -> None:
    first = store.create_job("A", "me", queued=True)
    tick(first.start_time)
    second = store.create_job("B", "me", queued=True)
    assert store.add_info_message(first.id, "waiting for a worker") is True
    store.claim_job(first.id, "w:1:x")  # its start time moves past the second job's
    assert [j.id for j in store.get_active_jobs()] == [first.id, second.id]
    assert [m.message for m in store.require_job(first.id).info_messages] == ["waiting for a worker"]


def test_a_dead_worker_s_job_goes_back_to_the_queue_as_its_type_allows_then_fails(store: Store) -> None:
    job = store.create_job("Report", "me", queued=True)
    store.claim_job(job.id, "worker:77:abc")
    store.update_progress(job.id, 0.5)
    store.flush()
    cursor = store.read_events().cursor
    far = time.time() + 10 * store.stale_after
    assert store.reap_stale(far, requeue={"Other": 5}) == [job.id]  # another type's allowance is not this one's
    assert store.require_job(job.id).status is JobStatus.FAILED

    job = store.create_job("Report", "me", queued=True)
    store.claim_job(job.id, "worker:77:abc")
    store.update_progress(job.id, 0.5)
    store.flush()
    assert store.reap_stale(far, requeue={"Report": 1}) == [job.id]
    again = store.require_job(job.id)
    assert again.status is JobStatus.QUEUED and again.attempt == 2 and again.is_active
    assert again.owner is None and again.heartbeat_time is None and again.progress == 0.0 and again.end_time is None
    assert again.queued_time is not None and again.queued_time > job.queued_time  # type: ignore[operator]
    [warning] = [m.message for m in again.warning_messages]
    assert "Worker worker:77:abc stopped sending heartbeats" in warning
    assert "re-queued as attempt 2 of at most 2 (requeue_on_worker_lost=1)" in warning
    assert again.error_messages == []
    assert JobInfo.from_dict(again.to_dict()).attempt == 2 and again.to_dict()["attempt"] == 2
    assert store.heartbeat(job.id, "worker:77:abc") is False  # a queued job has no process: nothing to keep alive
    assert store.reap_stale(far + 1000, requeue={"Report": 1}) == []  # queued: never stale
    assert [j.id for j in store.get_active_jobs()] == [job.id]
    statuses = [e.data["status"] for e in store.read_events(cursor).events
                if e.type is EventType.STATUS and e.job_id == job.id]
    assert statuses[-1] == "queued"

    assert store.claim_job(job.id, "worker:78:def") is not None  # the second attempt dies too: no third
    assert store.reap_stale(far + 1000, requeue={"Report": 1}) == [job.id]
    failed = store.require_job(job.id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 2
    assert "worker:78:def" in failed.error_messages[-1].message
    assert "not re-queued: this was attempt 2 and its type allows requeue_on_worker_lost=1" in \
        failed.error_messages[-1].message


def test_only_a_claimed_job_of_a_dead_process_is_re_queued(store: Store) -> None:
    far = time.time() + 10 * store.stale_after
    allow = {"Report": 3}
    local = store.create_job("Report", "me", owner="server:1:abc")  # ran where it was started: never re-run
    aborting = store.create_job("Report", "me", queued=True)
    store.claim_job(aborting.id, "worker:2:abc")
    store.request_abort(aborting.id, "stop")
    mine = store.create_job("Report", "me", queued=True)
    store.claim_job(mine.id, "worker:3:abc")  # the reaper's own process, alive but cut off from the store
    assert sorted(store.reap_stale(far, alive_owner="worker:3:abc", requeue=allow)) == \
        sorted([local.id, aborting.id, mine.id])
    for job in (local, aborting, mine):
        ended = store.require_job(job.id)
        assert ended.status is JobStatus.FAILED and ended.attempt == 1, ended


def test_a_re_queue_happens_once_whichever_reaper_wins(backend: Backend) -> None:
    first = backend.open()
    job = first.create_job("Report", "me", queued=True)
    first.claim_job(job.id, "worker:77:abc")
    stores = [backend.open() for _ in range(4)] if backend.shared else [first] * 4
    far = time.time() + 10 * first.stale_after
    barrier = threading.Barrier(4)
    reaped: list[str] = []

    def reap(store: Store) -> None:
        barrier.wait()
        reaped.extend(store.reap_stale(far, requeue={"Report": 5}))

    threads = [threading.Thread(target=reap, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reaped == [job.id]
    again = first.require_job(job.id)
    assert again.status is JobStatus.QUEUED and again.attempt == 2 and len(again.warning_messages) == 1
