"""The store semantics, written once and run against every backend (memory, SQLite, Redis).

Concurrency, staleness, retention and size bounds are in test_behaviour_concurrency.py.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

import pytest

from jobdeck.core.errors import JobConflictError, JobNotFoundError
from jobdeck.core.events import EventType
from jobdeck.core.model import JobStatus, MessageType, OperationRef, parse_time
from jobdeck.stores import Store
from tests.conftest import wait_for

from .conftest import Backend


def event_key(event_id: str) -> tuple[int, ...]:
    """Event ids are opaque strings; every backend's are dash-separated integers, ordered as tuples."""
    return tuple(int(part) for part in event_id.split("-"))


def tick(after: float) -> None:
    """Wait until the clock has moved past ``after`` (timestamps must differ for ordering checks)."""
    wait_for(lambda: time.time() > after + 0.002, timeout=2, interval=0.001, what="the clock to move")


# ---------------------------------------------------------------------- creating and reading


def test_new_job_is_running_with_progress_zero(store: Store) -> None:
    job = store.create_job("Import", "admin@example.com", {"file": "a.csv", "n": [1, 2]})
    assert job.status is JobStatus.RUNNING
    assert job.progress == 0.0
    assert job.start_time == job.last_activity_time
    assert job.end_time is None
    stored = store.get_job(job.id)
    assert stored is not None
    assert stored.to_dict() == job.to_dict()
    assert stored.params == {"file": "a.csv", "n": [1, 2]}
    assert [j.id for j in store.get_active_jobs()] == [job.id]
    assert store.get_past_jobs() == []
    assert store.get_status(job.id) is JobStatus.RUNNING


def test_params_must_be_json(store: Store) -> None:
    with pytest.raises(ValueError, match="params must be JSON"):
        store.create_job("Import", "me", {"when": object()})
    with pytest.raises(ValueError, match="job_type"):
        store.create_job("  ", "me")
    assert store.get_active_jobs() == []


def test_active_jobs_oldest_first_and_by_type(store: Store) -> None:
    a = store.create_job("A", "me")
    tick(a.start_time)
    b = store.create_job("B", "me")
    tick(b.start_time)
    c = store.create_job("A", "me")
    assert [j.id for j in store.get_active_jobs()] == [a.id, b.id, c.id]
    assert [j.id for j in store.get_active_jobs("A")] == [a.id, c.id]
    assert store.get_active_jobs("nothing") == []


# ---------------------------------------------------------------------- progress and messages


def test_progress_is_clamped_and_refreshes_activity(store: Store) -> None:
    job = store.create_job("T", "me")
    tick(job.start_time)
    before = time.time()
    assert store.update_progress(job.id, 0.25) is True
    stored = store.require_job(job.id)
    assert stored.progress == 0.25
    assert stored.last_activity_time >= before > stored.start_time
    store.update_progress(job.id, 1.5)
    assert store.require_job(job.id).progress == 1.0
    store.update_progress(job.id, -3)
    assert store.require_job(job.id).progress == 0.0


@pytest.mark.parametrize("bad", [math.nan, "0.5", None, True, [0.5]])
def test_progress_rejects_non_numbers(store: Store, bad: object) -> None:
    job = store.create_job("T", "me")
    store.update_progress(job.id, 0.4)
    with pytest.raises(ValueError, match="progress"):
        store.update_progress(job.id, bad)  # type: ignore[arg-type]
    assert store.require_job(job.id).progress == 0.4


def test_progress_keeps_the_newest_value_and_operation(store: Store) -> None:
    job = store.create_job("T", "me")
    op = OperationRef("loading", 1, 3)
    store.update_progress(job.id, 0.1, op)
    for i in range(200):
        store.update_progress(job.id, i / 1000)
    store.update_progress(job.id, 0.77)
    stored = store.require_job(job.id)
    assert stored.progress == 0.77
    assert stored.current_operation == op  # None means "unchanged"
    store.update_progress(job.id, 0.8, OperationRef("saving", 3, 3))
    store.flush()
    assert store.require_job(job.id).current_operation == OperationRef("saving", 3, 3)


def test_message_cap_keeps_newest_per_kind(backend: Backend) -> None:
    store = backend.open(max_messages=3)
    job = store.create_job("T", "me")
    for i in range(6):
        assert store.add_info_message(job.id, f"info {i}")
    store.add_warning_message(job.id, "w0")
    store.add_message(job.id, "warning", "w1")
    store.add_message(job.id, MessageType.ERROR, "e0")
    stored = store.require_job(job.id)
    assert [m.message for m in stored.info_messages] == ["info 3", "info 4", "info 5"]
    assert [m.message for m in stored.warning_messages] == ["w0", "w1"]
    assert [m.message for m in stored.error_messages] == ["e0"]
    assert stored.last_activity_time == stored.error_messages[0].timestamp
    with pytest.raises(ValueError):
        store.add_message(job.id, "debug", "no such kind")
    with pytest.raises(ValueError, match="message must be a string"):
        store.add_info_message(job.id, 42)  # type: ignore[arg-type]


def test_all_messages_are_merged_oldest_first(store: Store) -> None:
    job = store.create_job("T", "me")
    texts = [("info", "a"), ("error", "b"), ("warning", "c"), ("info", "d")]
    for kind, text in texts:
        store.add_message(job.id, kind, text)
        tick(time.time())
    merged = store.get_all_messages(job.id)
    assert [(m.type.value, m.message) for m in merged] == texts
    assert [m.timestamp for m in merged] == sorted(m.timestamp for m in merged)


# ---------------------------------------------------------------------- lifecycle


def test_complete_sets_progress_one_and_end_time(store: Store) -> None:
    job = store.create_job("T", "me")
    store.update_progress(job.id, 0.3)
    assert store.complete_job(job.id, {"rows": 12}) is True
    done = store.require_job(job.id)
    assert done.status is JobStatus.COMPLETED
    assert done.progress == 1.0
    assert done.result == {"rows": 12}
    assert done.end_time is not None and done.end_time >= done.start_time
    assert store.get_active_jobs() == []
    assert [j.id for j in store.get_past_jobs()] == [job.id]


def test_fail_adds_error_message(store: Store) -> None:
    job = store.create_job("T", "me")
    assert store.fail_job(job.id, "database went away")
    failed = store.require_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert [m.message for m in failed.error_messages] == ["database went away"]
    assert failed.end_time is not None


def test_abort_request_then_mark_aborted(store: Store) -> None:
    job = store.create_job("T", "me")
    assert store.request_abort(job.id, "operator said so") is True
    aborting = store.require_job(job.id)
    assert aborting.status is JobStatus.ABORTING
    assert aborting.abort_reason == "operator said so"
    assert [m.message for m in aborting.warning_messages] == ["Abort requested: operator said so"]
    assert store.request_abort(job.id, "again") is True  # a no-op: already aborting
    assert len(store.require_job(job.id).warning_messages) == 1
    assert store.is_abort_requested(job.id)
    assert store.update_progress(job.id, 0.5)  # still active: handler keeps reporting while it winds down
    assert store.mark_aborted(job.id) is True
    aborted = store.require_job(job.id)
    assert aborted.status is JobStatus.ABORTED
    assert [m.message for m in aborted.warning_messages] == ["Abort requested: operator said so", "Job aborted"]
    assert store.is_abort_requested(job.id)


def test_abort_without_reason(store: Store) -> None:
    job = store.create_job("T", "me")
    store.request_abort(job.id)
    assert [m.message for m in store.require_job(job.id).warning_messages] == [
        "Abort requested: No message provided"]


@pytest.mark.parametrize("finish", ["complete", "fail", "abort"])
def test_terminal_states_are_final(store: Store, finish: str) -> None:
    job = store.create_job("T", "me")
    store.add_info_message(job.id, "working")
    {"complete": lambda: store.complete_job(job.id, 1), "fail": lambda: store.fail_job(job.id, "x"),
     "abort": lambda: store.mark_aborted(job.id)}[finish]()
    before = store.require_job(job.id).to_dict()
    assert store.update_progress(job.id, 0.5) is False
    assert store.add_info_message(job.id, "late") is False
    assert store.add_error_message(job.id, "late") is False
    assert store.complete_job(job.id, 2) is False
    assert store.fail_job(job.id, "late") is False
    assert store.request_abort(job.id, "late") is False
    assert store.mark_aborted(job.id) is False
    assert store.heartbeat(job.id, "someone") is False
    store.flush()
    assert store.require_job(job.id).to_dict() == before


def test_unknown_ids_raise_naming_the_id(store: Store) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert store.get_job(missing) is None
    calls = [
        lambda: store.update_progress(missing, 0.5),
        lambda: store.add_info_message(missing, "x"),
        lambda: store.complete_job(missing),
        lambda: store.fail_job(missing, "x"),
        lambda: store.request_abort(missing),
        lambda: store.mark_aborted(missing),
        lambda: store.heartbeat(missing),
        lambda: store.get_status(missing),
        lambda: store.require_job(missing),
        lambda: store.get_all_messages(missing),
    ]
    for call in calls:
        with pytest.raises(JobNotFoundError, match=missing):
            call()
    assert store.get_active_jobs() == []


# ---------------------------------------------------------------------- past jobs


def test_past_jobs_filters_and_newest_first(store: Store) -> None:
    ids = {}
    for name, job_type, finish in [("a", "A", "complete"), ("b", "B", "fail"), ("c", "A", "abort"),
                                   ("d", "A", "complete")]:
        job = store.create_job(job_type, "me")
        tick(time.time())
        {"complete": store.complete_job, "fail": store.fail_job, "abort": store.mark_aborted}[finish](job.id)
        ids[name] = job.id
        tick(time.time())
    running = store.create_job("A", "me")
    assert [j.id for j in store.get_past_jobs()] == [ids["d"], ids["c"], ids["b"], ids["a"]]
    assert [j.id for j in store.get_past_jobs("A")] == [ids["d"], ids["c"], ids["a"]]
    assert [j.id for j in store.get_past_jobs(statuses=["completed"])] == [ids["d"], ids["a"]]
    assert [j.id for j in store.get_past_jobs(statuses="failed")] == [ids["b"]]
    assert [j.id for j in store.get_past_jobs("A", statuses=[JobStatus.ABORTED, "failed"])] == [ids["c"]]
    b_end = store.require_job(ids["b"]).end_time
    assert b_end is not None
    after_b = [ids["d"], ids["c"]]
    assert [j.id for j in store.get_past_jobs(start_from=b_end)] == after_b  # strictly after
    assert [j.id for j in store.get_past_jobs(start_from=datetime.fromtimestamp(b_end + 0.001, UTC))] == after_b
    iso = store.require_job(ids["b"]).to_dict()["endTime"]
    assert parse_time(iso) is not None
    assert ids["a"] not in [j.id for j in store.get_past_jobs(start_from=iso)]
    assert running.id not in [j.id for j in store.get_past_jobs()]
    with pytest.raises(ValueError, match="unknown status"):
        store.get_past_jobs(statuses=["running-ish"])
    with pytest.raises(ValueError, match="start_from"):
        store.get_past_jobs(start_from="yesterday")
    without = store.get_past_jobs(messages=False)
    assert all(j.error_messages == [] and j.warning_messages == [] for j in without)
    assert store.require_job(ids["c"]).warning_messages  # the messages are there, just not loaded


def test_cleanup_past_jobs(store: Store) -> None:
    a1 = store.create_job("A", "me")
    a2 = store.create_job("A", "me")
    b1 = store.create_job("B", "me")
    active = store.create_job("A", "me")
    for job in (a1, a2, b1):
        store.add_info_message(job.id, "x")
        store.complete_job(job.id)
    assert store.cleanup_past_jobs("A") == 2
    assert store.get_job(a1.id) is None and store.get_job(a2.id) is None
    assert [j.id for j in store.get_past_jobs()] == [b1.id]
    assert store.cleanup_past_jobs() == 1
    assert store.get_past_jobs() == []
    assert store.get_job(active.id) is not None
    assert store.cleanup_past_jobs() == 0


def test_stats_count_per_status(store: Store) -> None:
    jobs = [store.create_job("T", "me") for _ in range(5)]
    store.complete_job(jobs[0].id)
    store.fail_job(jobs[1].id)
    store.mark_aborted(jobs[2].id)
    store.request_abort(jobs[3].id)
    assert store.stats() == {"queued": 0, "running": 1, "aborting": 1, "completed": 1, "failed": 1, "aborted": 1}


def test_max_active_conflict(store: Store) -> None:
    first = store.create_job("Import", "me", max_active=1)
    with pytest.raises(JobConflictError) as info:
        store.create_job("Import", "you", max_active=1)
    assert info.value.active_ids == [first.id]
    assert first.id in str(info.value)
    store.create_job("Other", "me", max_active=1)  # per type
    store.create_job("Import", "me", max_active=2)
    store.complete_job(first.id)
    store.create_job("Import", "me", max_active=2)
    assert len(store.get_active_jobs("Import")) == 2


# ---------------------------------------------------------------------- events


def test_events_of_a_whole_lifecycle(store: Store) -> None:
    start = store.read_events().cursor
    job = store.create_job("T", "me", {"k": 1})
    store.update_progress(job.id, 0.5, OperationRef("op", 1, 2))
    store.flush()
    store.add_info_message(job.id, "hello")
    store.complete_job(job.id, {"ok": True})
    store.cleanup_past_jobs()
    batch = store.read_events(start)
    assert not batch.reset
    assert [e.type for e in batch.events] == [EventType.CREATED, EventType.PROGRESS, EventType.MESSAGE,
                                              EventType.STATUS, EventType.REMOVED]
    assert all(e.job_id == job.id for e in batch.events)
    keys = [event_key(e.id) for e in batch.events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert batch.cursor == batch.events[-1].id
    created, progress, message, status, removed = (e.data for e in batch.events)
    assert created["jobType"] == "T" and created["params"] == {"k": 1} and "infoMessages" not in created
    assert progress == {"progress": 0.5, "lastActivityTime": progress["lastActivityTime"],
                        "currentOperation": {"id": "op", "index": 1, "total": 2}}
    assert message["message"]["message"] == "hello" and message["message"]["type"] == "info"
    assert status["status"] == "completed" and status["result"] == {"ok": True}
    assert removed == {}
    assert store.read_events(batch.cursor).events == []


def test_events_resume_after_cursor_misses_nothing(store: Store) -> None:
    cursor = store.read_events().cursor
    job = store.create_job("T", "me")
    for i in range(7):
        store.add_info_message(job.id, f"m{i}")
    seen = []
    for _ in range(20):
        batch = store.read_events(cursor, limit=3)
        assert not batch.reset and len(batch.events) <= 3
        if not batch.events:
            break
        seen += batch.events
        cursor = batch.cursor
    assert [e.data["message"]["message"] for e in seen if e.type is EventType.MESSAGE] == [f"m{i}" for i in range(7)]
    store.add_info_message(job.id, "late")
    assert [e.data["message"]["message"] for e in store.read_events(cursor).events] == ["late"]


def test_events_reset_for_unknown_or_too_old_cursor(backend: Backend) -> None:
    store = backend.open(max_events=5)
    old = store.read_events().cursor
    assert store.read_events("not-a-cursor").reset
    assert store.read_events("999999999999999-0" if backend.name == "redis" else "999999999").reset
    job = store.create_job("T", "me")
    for i in range(300):
        store.add_info_message(job.id, f"m{i}")
    batch = store.read_events(old)
    assert batch.reset
    fresh = store.read_events(batch.cursor)
    assert not fresh.reset and fresh.events == []


def test_wait_events_wakes_on_a_change(store: Store) -> None:
    job = store.create_job("T", "me")
    cursor = store.read_events().cursor
    got = []
    waiter = threading.Thread(target=lambda: got.append(store.wait_events(cursor, timeout=10)))
    waiter.start()
    store.add_warning_message(job.id, "wake up")
    waiter.join(timeout=15)
    assert not waiter.is_alive()
    events = got[0].events
    assert [e.type for e in events] == [EventType.MESSAGE]
    assert events[0].data["message"]["message"] == "wake up"
    empty = store.wait_events(got[0].cursor, timeout=0.05)
    assert empty.events == [] and not empty.reset and empty.cursor == got[0].cursor
