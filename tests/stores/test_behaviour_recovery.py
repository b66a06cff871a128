"""Retries and resuming on every backend (issue 21): the new head fields, ``schedule_retry``, the dispatch of a due
retry, a waiting job's abort, slot and staleness, and saved values with their bound and their removal."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jobdeck.core.errors import InvalidArgumentError, JobConflictError, JobNotFoundError
from jobdeck.core.events import EventType
from jobdeck.core.model import JobInfo, JobStatus
from jobdeck.stores import MemoryStore, Store
from jobdeck.stores.base import Transition
from jobdeck.stores.postgres import PostgresStore
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import unique_schema, wait_for

from .conftest import Backend
from .test_behaviour import tick

FAILED = "attempt 1 of 3 failed: RateLimitError: 429 Too Many Requests; retrying in 58 s"


def running(store: Store, **kwargs: Any) -> JobInfo:
    return store.create_job("Condense", "me", {"n": 24}, owner="host:1:a", max_attempts=3, **kwargs)


# ---------------------------------------------------------------------- fields


def test_new_fields_round_trip_through_the_store_and_json(store: Store) -> None:
    plain = store.create_job("Condense", "me")
    assert (plain.max_attempts, plain.retry_at, plain.resumed_from) == (1, None, None)
    assert store.require_job(plain.id).to_dict()["maxAttempts"] == 1
    job = running(store, resumed_from=plain.id)
    stored = store.require_job(job.id)
    assert (stored.max_attempts, stored.retry_at, stored.resumed_from) == (3, None, plain.id)
    at = time.time() + 60
    assert store.schedule_retry(job.id, at, attempt=1, message=FAILED)
    waiting = store.require_job(job.id)
    assert waiting.retry_at == at and waiting.attempt == 2 and waiting.max_attempts == 3
    data = waiting.to_dict()
    assert data["maxAttempts"] == 3 and data["resumedFrom"] == plain.id and data["attempt"] == 2
    assert data["retryAt"].endswith("Z")
    again = JobInfo.from_dict(data)
    assert again.retry_at == pytest.approx(at, abs=0.001)
    assert (again.max_attempts, again.resumed_from) == (3, plain.id)
    assert [j.retry_at for j in store.get_active_jobs(messages=False) if j.id == job.id] == [at]
    old = JobInfo.from_dict({k: v for k, v in data.items() if k not in ("maxAttempts", "retryAt", "resumedFrom")})
    assert (old.max_attempts, old.retry_at, old.resumed_from) == (1, None, None)  # a reader of older JSON


def test_create_job_checks_the_new_arguments(store: Store) -> None:
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InvalidArgumentError, match="max_attempts must be a whole number >= 1"):
            store.create_job("T", "me", max_attempts=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="resumed_from"):
        store.create_job("T", "me", resumed_from="a\x00b")
    assert store.get_active_jobs() == []


# ---------------------------------------------------------------------- schedule_retry


def test_schedule_retry_puts_the_failed_run_back_in_the_queue_keeping_its_work(store: Store) -> None:
    job = running(store)
    store.add_info_message(job.id, "question 17 done")
    store.update_progress(job.id, 0.7)
    store.flush()
    cursor = store.read_events().cursor
    seen: list[Transition] = []
    store.add_observer(seen.append)
    at = time.time() + 58
    assert store.schedule_retry(job.id, at, attempt=1, message=FAILED) is True
    waiting = store.require_job(job.id)
    assert waiting.status is JobStatus.QUEUED and waiting.is_active and waiting.end_time is None
    assert waiting.attempt == 2 and waiting.retry_at == at
    assert waiting.owner is None and waiting.heartbeat_time is None
    assert waiting.queued_time is not None and waiting.queued_time >= job.start_time
    assert waiting.progress == 0.7  # progress never moves backwards
    assert [m.message for m in waiting.info_messages] == ["question 17 done"]
    assert [m.message for m in waiting.warning_messages] == [FAILED]
    assert waiting.error_messages == []
    events = [e for e in store.read_events(cursor).events if e.job_id == job.id]
    statuses = [e.data for e in events if e.type is EventType.STATUS]
    assert statuses[-1]["status"] == "queued" and statuses[-1]["retryAt"] is not None
    assert statuses[-1]["attempt"] == 2
    assert [e.data["message"]["message"] for e in events if e.type is EventType.MESSAGE] == [FAILED]
    [transition] = seen
    assert transition.retried and not transition.created and not transition.requeued
    assert transition.job.status is JobStatus.QUEUED and transition.job.attempt == 2
    # The same failed run reported twice (or by a stale process) changes nothing: the attempt no longer matches.
    assert store.schedule_retry(job.id, at + 5, attempt=1, message=FAILED) is False
    assert store.schedule_retry(job.id, at + 5, attempt=2, message=FAILED) is False  # not running: queued
    assert store.require_job(job.id).retry_at == at and len(seen) == 1


def test_schedule_retry_needs_the_current_attempt_of_a_running_job(store: Store) -> None:
    job = running(store)
    assert store.schedule_retry(job.id, time.time(), attempt=2, message=FAILED) is False
    assert store.require_job(job.id).status is JobStatus.RUNNING
    assert store.complete_job(job.id)
    assert store.schedule_retry(job.id, time.time(), attempt=1, message=FAILED) is False
    assert store.require_job(job.id).status is JobStatus.COMPLETED
    assert store.schedule_retry("0f0f0f0f-0000-4000-8000-00000000dead", time.time(), attempt=1,
                                message=FAILED) is False
    for bad in ({"attempt": 0}, {"attempt": True}, {"at": float("nan")}, {"at": None}):
        args: dict[str, Any] = {"at": time.time(), "attempt": 1, **bad}
        with pytest.raises(InvalidArgumentError):
            store.schedule_retry(job.id, args["at"], attempt=args["attempt"], message=FAILED)


def test_an_abort_wins_over_a_retry(store: Store) -> None:
    job = running(store)
    assert store.request_abort(job.id, "enough", by="ops")
    seen: list[Transition] = []
    store.add_observer(seen.append)
    assert store.schedule_retry(job.id, time.time() + 30, attempt=1, message=FAILED) is False
    ended = store.require_job(job.id)
    assert ended.status is JobStatus.ABORTED and ended.retry_at is None and ended.attempt == 1
    assert ended.aborted_by == "ops" and ended.abort_reason == "enough"
    assert FAILED not in [m.message for m in ended.warning_messages]
    assert [(t.job.status, t.retried) for t in seen] == [(JobStatus.ABORTED, False)]
    assert store.due_retries(time.time() + 100) == []


# ---------------------------------------------------------------------- claiming and dispatching a due retry


def test_claim_clears_retry_at(store: Store) -> None:
    job = running(store)
    store.schedule_retry(job.id, time.time() - 1, attempt=1, message=FAILED)
    claimed = store.claim_job(job.id, "host:2:b")
    assert claimed is not None and claimed.retry_at is None and claimed.attempt == 2
    stored = store.require_job(job.id)
    assert stored.status is JobStatus.RUNNING and stored.retry_at is None and stored.owner == "host:2:b"
    assert store.due_retries(time.time() + 100) == []
    # The second attempt fails too: retry_at is set again, attempt 3.
    assert store.schedule_retry(job.id, time.time() + 1, attempt=2, message="attempt 2 of 3 failed")
    assert store.require_job(job.id).attempt == 3


def test_due_retries_lists_queued_jobs_whose_time_came(store: Store) -> None:
    now = time.time()
    later, soon, other = running(store), running(store), store.create_job("Other", "me", owner="h:1:x")
    store.create_job("Condense", "me", queued=True)  # queued for a worker, not waiting for a retry
    store.schedule_retry(later.id, now + 100, attempt=1, message=FAILED)
    store.schedule_retry(soon.id, now + 10, attempt=1, message=FAILED)
    store.schedule_retry(other.id, now + 5, attempt=1, message=FAILED)
    assert store.due_retries(now) == []
    assert [j.id for j in store.due_retries(now + 10)] == [other.id, soon.id]  # earliest first
    due = store.due_retries(now + 1000, job_types=["Condense"])
    assert [j.id for j in due] == [soon.id, later.id]
    assert all(j.info_messages == [] and j.warning_messages == [] for j in due)  # heads only
    assert [j.id for j in store.due_retries(now + 1000, job_types=["Nothing"])] == []


def test_claim_retry_dispatch_is_a_compare_and_set(store: Store) -> None:
    job = running(store)
    at = time.time() + 1
    store.schedule_retry(job.id, at, attempt=1, message=FAILED)
    assert store.claim_retry_dispatch(job.id, at + 1) is False  # not the retry that is due
    scheduled = store.require_job(job.id).queued_time or 0.0
    tick(scheduled)
    assert store.claim_retry_dispatch(job.id, at) is True
    handed = store.require_job(job.id)
    assert handed.status is JobStatus.QUEUED and handed.retry_at is None  # now the engine's to deliver
    assert (handed.queued_time or 0.0) > scheduled  # waiting for a worker from now on, not since the failure
    assert store.claim_retry_dispatch(job.id, at) is False
    assert store.due_retries(at + 100) == []
    assert store.claim_retry_dispatch("0f0f0f0f-0000-4000-8000-00000000dead", at) is False


def race(stores: list[Store], job_id: str, at: float) -> list[int]:
    """Six threads, three per store object, try to dispatch one due retry at once; returns the winners."""
    barrier = threading.Barrier(6)
    won: list[int] = []

    def dispatch(n: int) -> None:
        barrier.wait()
        if stores[n % 2].claim_retry_dispatch(job_id, at):
            won.append(n)

    threads = [threading.Thread(target=dispatch, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return won


def test_one_dispatcher_wins_a_due_retry_among_racing_threads_and_store_objects(backend: Backend) -> None:
    stores = [backend.open() for _ in range(2)] if backend.shared else [backend.open()] * 2
    rounds = 5
    jobs = []
    for _ in range(rounds):
        job = running(stores[0])
        stores[0].schedule_retry(job.id, time.time(), attempt=1, message=FAILED)
        jobs.append(job)
    for job in jobs:
        due = [j for j in stores[1].due_retries(time.time() + 1) if j.id == job.id]
        assert len(due) == 1
        retry_at = due[0].retry_at
        assert retry_at is not None
        won = race(stores, job.id, retry_at)
        assert len(won) == 1, won
        assert stores[0].require_job(job.id).retry_at is None


# ---------------------------------------------------------------------- a waiting job: abort, slot, staleness


def test_aborting_a_job_waiting_for_its_retry_ends_it_at_once(store: Store) -> None:
    job = running(store)
    store.schedule_retry(job.id, time.time() + 60, attempt=1, message=FAILED)
    seen: list[Transition] = []
    store.add_observer(seen.append)
    assert store.request_abort(job.id, "not worth retrying", by="alice") is True
    ended = store.require_job(job.id)
    assert ended.status is JobStatus.ABORTED and ended.end_time is not None and not ended.is_active
    assert ended.retry_at is None and ended.aborted_by == "alice" and ended.abort_reason == "not worth retrying"
    assert "Job aborted before it started" in [m.message for m in ended.warning_messages]
    assert [t.job.status for t in seen] == [JobStatus.ABORTED]
    assert store.claim_job(job.id, "host:2:b") is None  # no further attempt
    assert store.claim_retry_dispatch(job.id, time.time()) is False
    assert store.due_retries(time.time() + 1000) == []


def test_a_job_waiting_for_its_retry_keeps_its_slot(backend: Backend) -> None:
    store = backend.open()
    job = store.create_job("Condense", "me", owner="h:1:a", max_active=1, max_attempts=3)
    store.schedule_retry(job.id, time.time() + 60, attempt=1, message=FAILED)
    with pytest.raises(JobConflictError) as caught:
        store.create_job("Condense", "me", max_active=1)
    assert caught.value.active_ids == [job.id]
    if backend.shared:
        with pytest.raises(JobConflictError):
            backend.open().create_job("Condense", "me", queued=True, max_active=1)
    assert [j.id for j in store.get_active_jobs()] == [job.id]
    store.request_abort(job.id)
    assert store.create_job("Condense", "me", max_active=1).status is JobStatus.RUNNING


def test_the_reaper_and_the_lost_check_leave_a_waiting_job_alone(store: Store) -> None:
    job = running(store)
    store.schedule_retry(job.id, time.time() + 3600, attempt=1, message=FAILED)
    far = time.time() + 100 * store.stale_after
    waiting = store.require_job(job.id)
    assert store.stale_reason(waiting, far) is None
    assert store.reap_stale(far) == []
    assert store.reap_stale(far, requeue={"Condense": 5}) == []
    # No engine holds it until it is due: an engine that says it lost it is not to be believed.
    assert store.fail_lost(job.id, "the broker has no message for it") is False
    after = store.require_job(job.id)
    assert after.status is JobStatus.QUEUED and after.attempt == 2 and after.error_messages == []
    # Handed to the engine (retry_at cleared), it is an ordinary queued job again: the engine may lose it.
    assert store.claim_retry_dispatch(job.id, waiting.retry_at or 0.0)
    assert store.fail_lost(job.id, "the broker has no message for it") is True


# ---------------------------------------------------------------------- saved values


def test_saved_values_round_trip(store: Store) -> None:
    job = running(store)
    assert store.saved_values(job.id) == {} and store.saved_keys(job.id) == []
    assert store.save_value(job.id, "q1", {"answer": "yes", "tokens": [1, 2.5, None]}) is True
    assert store.save_value(job.id, "q2", "héllo \u2603") is True
    assert store.save_value(job.id, "jobdeck.done:load/q1", True) is True
    assert store.save_value(job.id, "q1", {"answer": "no"}) is True  # replaced
    assert store.saved_values(job.id) == {"q1": {"answer": "no"}, "q2": "héllo \u2603",
                                          "jobdeck.done:load/q1": True}
    assert store.saved_keys(job.id) == ["q1", "q2"]  # jobdeck's own keys left out
    assert "q1" not in str(store.require_job(job.id).to_dict())  # never in the job's JSON, lists or events
    other = store.create_job("Condense", "me")
    assert store.saved_values(other.id) == {}
    with pytest.raises(JobNotFoundError):
        store.saved_values("0f0f0f0f-0000-4000-8000-00000000dead")
    with pytest.raises(JobNotFoundError):
        store.saved_keys("0f0f0f0f-0000-4000-8000-00000000dead")
    with pytest.raises(JobNotFoundError):
        store.save_value("0f0f0f0f-0000-4000-8000-00000000dead", "k", 1)


def test_saved_values_are_checked(store: Store) -> None:
    job = running(store)
    for key in ("", "x" * 201, "a\x00b", 7, None):
        with pytest.raises(InvalidArgumentError, match="key must be a non-empty string"):
            store.save_value(job.id, key, 1)  # type: ignore[arg-type]
    assert store.save_value(job.id, "x" * 200, 1)
    for value in (float("nan"), object(), {1: {2: set()}}):
        with pytest.raises(InvalidArgumentError, match="value must be JSON"):
            store.save_value(job.id, "k", value)
    assert store.saved_keys(job.id) == ["x" * 200]


def test_saved_values_are_bounded_per_job_with_the_sizes_in_the_error(backend: Backend) -> None:
    store = backend.open(max_saved_bytes=1024 * 1024)
    job = running(store)
    chunk = "a" * (300 * 1024 - 2)  # its JSON text (with the quotes) is exactly 300 KiB
    for n in range(3):
        assert store.save_value(job.id, f"k{n}", chunk)
    assert store.save_value(job.id, "k0", chunk)  # replacing a value counts it once
    with pytest.raises(InvalidArgumentError) as caught:
        store.save_value(job.id, "k3", chunk)
    text = str(caught.value)
    assert f"saving 'k3' (300 KiB) would bring job {job.id}'s saved values to 1.2 MiB; at most 1 MiB per job" in text
    assert store.saved_keys(job.id) == ["k0", "k1", "k2"]  # nothing written
    assert store.save_value(job.id, "small", "b" * 100 * 1024)  # what fits still fits
    assert store.save_value(job.id, "k1", 1)  # and shrinking makes room
    assert store.save_value(job.id, "k3", chunk)
    with pytest.raises(InvalidArgumentError, match="max_saved_bytes must be a positive integer"):
        backend.open(max_saved_bytes=0)


def test_saving_to_a_finished_job_is_refused(store: Store) -> None:
    job = running(store)
    assert store.save_value(job.id, "q1", 1)
    assert store.fail_job(job.id, "boom")
    assert store.save_value(job.id, "q2", 2) is False
    assert store.saved_values(job.id) == {"q1": 1}  # kept for a resume, and readable
    waiting = running(store)
    store.schedule_retry(waiting.id, time.time() + 60, attempt=1, message=FAILED)
    assert store.save_value(waiting.id, "k", 1) is True  # queued for a retry is still active


def test_copy_saved_gives_a_resumed_job_the_old_job_s_values(backend: Backend) -> None:
    store = backend.open(max_saved_bytes=1000)
    old = running(store)
    store.save_value(old.id, "q1", "one")
    store.save_value(old.id, "jobdeck.done:q1", True)
    store.fail_job(old.id, "provider down")
    new = running(store, resumed_from=old.id, rerun_of=None)
    store.save_value(new.id, "q1", "stale")  # the old values replace keys it shares
    assert store.copy_saved(old.id, new.id) is True
    assert store.saved_values(new.id) == {"q1": "one", "jobdeck.done:q1": True}
    assert store.saved_keys(new.id) == ["q1"]
    assert store.saved_values(old.id) == {"q1": "one", "jobdeck.done:q1": True}  # the old job stays as it was
    empty = running(store)
    assert store.copy_saved(empty.id, new.id) is True  # nothing to copy
    assert store.saved_values(new.id) == {"q1": "one", "jobdeck.done:q1": True}
    big = running(store)
    store.save_value(big.id, "k", "x" * 995)
    sizes = r"saving 'k' \(997 B\) would bring job .*'s saved values to 1006 B; at most 1000 B per job"
    with pytest.raises(InvalidArgumentError, match=sizes):
        store.copy_saved(big.id, new.id)
    store.complete_job(new.id)
    assert store.copy_saved(old.id, new.id) is False  # a finished job takes nothing
    assert store.copy_saved(empty.id, new.id) is False
    with pytest.raises(JobNotFoundError):
        store.copy_saved("0f0f0f0f-0000-4000-8000-00000000dead", new.id)
    with pytest.raises(JobNotFoundError):
        store.copy_saved(empty.id, "0f0f0f0f-0000-4000-8000-00000000dead")


def saved_rows(store: Store) -> int:
    """How many saved values the store holds for any job, counted in its own storage."""
    if isinstance(store, MemoryStore):
        return sum(len(v) for v in store._saved.values())
    if isinstance(store, SQLiteStore):
        import sqlite3

        with sqlite3.connect(store.path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM saved").fetchone()[0])
    if isinstance(store, PostgresStore):
        return int(store._pool_one(store.names.render("SELECT count(*) FROM {saved}"))[0][0])
    assert isinstance(store, RedisStore)
    return sum(int(store._redis.hlen(key)) for key in store._redis.scan_iter(match=f"{store.prefix}:saved:*"))


def test_saved_values_go_with_their_job(backend: Backend) -> None:
    store = backend.open(max_past_jobs=1)
    evicted, kept = running(store), running(store)
    store.save_value(evicted.id, "a", 1)
    store.save_value(evicted.id, "b", 2)
    store.save_value(kept.id, "c", 3)
    assert saved_rows(store) == 3
    store.complete_job(evicted.id)
    store.fail_job(kept.id)  # retention: max_past_jobs=1 evicts the older past job
    assert store.get_job(evicted.id) is None
    assert saved_rows(store) == 1
    with pytest.raises(JobNotFoundError):
        store.saved_values(evicted.id)
    assert store.cleanup_past_jobs() == 1
    assert saved_rows(store) == 0

    aged = backend.open(max_past_age=0.2)
    old = running(aged)
    aged.save_value(old.id, "a", 1)
    aged.complete_job(old.id)
    end = aged.require_job(old.id).end_time or 0.0
    wait_for(lambda: time.time() > end + 0.3, timeout=5, what="the first job to age")
    trigger = running(aged)
    aged.complete_job(trigger.id)  # finishing a job applies retention by age
    assert aged.get_job(old.id) is None and saved_rows(aged) == 0


def test_a_save_is_seen_by_another_store_object_at_once(shared_backend: Backend) -> None:
    one, two = shared_backend.open(), shared_backend.open()
    job = running(one)
    assert one.save_value(job.id, "q1", {"done": True})  # direct, not buffered: no flush needed
    assert two.saved_values(job.id) == {"q1": {"done": True}}
    assert two.saved_keys(job.id) == ["q1"]


# ---------------------------------------------------------------------- old schemas upgrade in place


def test_a_version_8_sqlite_file_gets_the_retry_columns_and_the_saved_table(tmp_path: Path) -> None:
    import sqlite3

    from jobdeck.stores._sqlite_schema import LATEST_VERSION, STEPS

    path = tmp_path / "v8.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in STEPS[:8]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 8")
    conn.execute("INSERT INTO jobs (id, job_type, author, status, progress, start_time, last_activity, attempt, "
                 "operations) VALUES ('old-8', 'Import', 'admin', 'running', 0.5, 1000.0, 1000.0, 2, '[\"tree\"]')")
    conn.close()
    store = SQLiteStore(path)
    try:
        old = store.require_job("old-8")
        assert (old.attempt, old.max_attempts, old.retry_at, old.resumed_from) == (2, 1, None, None)
        assert old.progress == 0.5
        assert store.save_value("old-8", "q1", [1, 2]) and store.saved_values("old-8") == {"q1": [1, 2]}
        assert store.schedule_retry("old-8", 2000.0, attempt=2, message="attempt 2 failed")
        assert store.require_job("old-8").retry_at == 2000.0
    finally:
        store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    columns = [row[1] for row in check.execute("PRAGMA table_info(jobs)")]
    assert columns[-1] == "operations" and {"max_attempts", "retry_at", "resumed_from"} <= set(columns)  # big one last
    assert check.execute("SELECT operations FROM jobs WHERE id = 'old-8'").fetchone() == ('["tree"]',)
    check.close()


@pytest.mark.postgres
def test_a_version_5_postgres_schema_gets_the_retry_columns_and_the_saved_table(postgres_url: str) -> None:
    import psycopg

    from jobdeck.stores._pg_schema import LATEST_VERSION, STEPS, Names

    from .conftest import drop_schema

    schema = unique_schema()
    names = Names(schema, "jobdeck_")
    job_id = "0f0f0f0f-0000-4000-8000-000000000005"
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # what version 5 created
            conn.execute(names.render("CREATE SCHEMA {schema}"))
            conn.execute(names.render("CREATE TABLE {schema_version} (version integer NOT NULL, "
                                      "upgraded_at timestamptz NOT NULL DEFAULT now())"))
            for step in STEPS[:5]:
                for statement in step:
                    conn.execute(names.render(statement))
            conn.execute(names.render("INSERT INTO {schema_version} (version) VALUES (5)"))
            conn.execute(names.render("INSERT INTO {jobs} (id, job_type, author, status, start_time, attempt) "
                                      "VALUES (%s, 'Old', 'me', 'running', 1, 2)"), (job_id,))
            conn.execute(names.render("INSERT INTO {hot} (id, last_activity) VALUES (%s, 1)"), (job_id,))
        store = PostgresStore(postgres_url, schema=schema, max_past_jobs=1)
        try:
            assert (store.migrated_from, store.schema_version) == (5, LATEST_VERSION)
            old = store.require_job(job_id)
            assert (old.attempt, old.max_attempts, old.retry_at, old.resumed_from) == (2, 1, None, None)
            assert store.save_value(job_id, "q1", {"a": 1}) and store.saved_keys(job_id) == ["q1"]
            assert store.schedule_retry(job_id, 2000.0, attempt=2, message="attempt 2 failed")
            assert store.require_job(job_id).retry_at == 2000.0
            store.request_abort(job_id)
            store.complete_job(store.create_job("New", "me").id)  # retention evicts the old job, and its values
            assert store.get_job(job_id) is None and saved_rows(store) == 0
        finally:
            store.close()
    finally:
        drop_schema(postgres_url, schema)
