"""Buffered messages (SQLite and Redis write them in batches; see stores/_buffer.py): nothing lost, in order with
progress and status changes, terminal states final, visible to other processes without a flush, bounded."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jobdeck.core.errors import JobNotFoundError, StoreError
from jobdeck.core.events import EventType, JobEvent, message_data
from jobdeck.core.model import JobMessage, JobStatus, MessageType
from jobdeck.stores import Store
from jobdeck.stores._buffer import message_event
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import free_port, require, wait_for

from .conftest import Backend


def events_since(store: Store, cursor: str | None) -> list[JobEvent]:
    out: list[JobEvent] = []
    while True:
        batch = store.read_events(cursor)
        assert not batch.reset
        if not batch.events:
            return out
        out += batch.events
        cursor = batch.cursor


def test_events_keep_the_order_of_messages_progress_and_status(backend: Backend) -> None:
    store = backend.open()
    job = store.create_job("T", "me")
    cursor = store.read_events().cursor
    n = 300
    for i in range(n):
        store.update_progress(job.id, i / n)  # mostly coalesced, so most values are never written
        store.add_info_message(job.id, f"m{i}")
    store.complete_job(job.id)
    events = [e for e in events_since(store, cursor) if e.job_id == job.id]
    assert [e.data["message"]["message"] for e in events if e.type is EventType.MESSAGE] == [f"m{i}" for i in range(n)]
    assert events[-1].type is EventType.STATUS and events[-1].data["status"] == "completed"
    # Progress i/n was set after message i-1 and before message i: exactly i messages precede its event.
    messages_before = 0
    written = []
    for event in events:
        if event.type is EventType.MESSAGE:
            messages_before += 1
        elif event.type is EventType.PROGRESS:
            i = round(event.data["progress"] * n)
            assert messages_before == i, (i, messages_before)
            written.append(i)
    assert written and written == sorted(written)
    if backend.shared:
        assert len(written) < n // 2, written  # still coalesced: not one progress write per message


def test_a_progress_write_never_overtakes_earlier_messages(shared_backend: Backend) -> None:
    store = shared_backend.open(message_interval=10, progress_interval=0)  # messages wait, progress does not
    job = store.create_job("T", "me")
    cursor = store.read_events().cursor
    store.add_info_message(job.id, "m0")
    store.add_info_message(job.id, "m1")
    store.update_progress(job.id, 0.5)
    store.add_info_message(job.id, "m2")
    events = events_since(store, cursor)
    assert [e.data["message"]["message"] if e.type is EventType.MESSAGE else e.data["progress"] for e in events] == [
        "m0", "m1", 0.5, "m2"]


def test_another_store_object_sees_messages_without_a_flush(shared_backend: Backend) -> None:
    a, b = shared_backend.open(), shared_backend.open()
    job = a.create_job("T", "me")
    for i in range(50):
        assert a.add_info_message(job.id, f"m{i}") is True
    seen = wait_for(lambda: len(got := b.require_job(job.id).info_messages) == 50 and got, timeout=5,
                    what="the background writer to write the messages")
    assert [m.message for m in seen] == [f"m{i}" for i in range(50)]
    assert b.require_job(job.id).last_activity_time == seen[-1].timestamp


def test_a_job_ended_elsewhere_drops_late_messages(shared_backend: Backend) -> None:
    a, b = shared_backend.open(), shared_backend.open()
    job = a.create_job("T", "me")
    assert a.add_info_message(job.id, "early")
    a.flush()
    cursor = b.read_events().cursor
    assert b.complete_job(job.id)
    # a cannot know yet: the message is accepted, then the batch write finds the job finished and drops it.
    assert a.add_info_message(job.id, "late") is True
    a.flush()
    assert a.add_info_message(job.id, "later") is False  # the batch told a
    assert a.get_status(job.id, max_age=60) is JobStatus.COMPLETED
    a.flush()
    assert [m.message for m in b.require_job(job.id).info_messages] == ["early"]
    assert [e.type for e in events_since(b, cursor)] == [EventType.STATUS]


def test_a_job_deleted_elsewhere_raises_again(shared_backend: Backend) -> None:
    a, b = shared_backend.open(), shared_backend.open()
    job = a.create_job("T", "me")
    assert a.add_info_message(job.id, "first")
    b.complete_job(job.id)
    assert b.cleanup_past_jobs() == 1
    assert a.add_info_message(job.id, "into the void") is True  # unknown to a until its batch is written
    a.flush()
    with pytest.raises(JobNotFoundError, match=job.id):
        a.add_info_message(job.id, "again")


def test_writer_blocks_when_too_much_is_pending(shared_backend: Backend) -> None:
    # A background interval far longer than the test: only backpressure can write these.
    a = shared_backend.open(message_interval=10)
    b = shared_backend.open()
    a._messages.max_pending = 10  # type: ignore[attr-defined]
    job = a.create_job("T", "me")
    for i in range(35):
        a.add_info_message(job.id, f"m{i}")
    assert a._messages.pending <= 10  # type: ignore[attr-defined]
    stored = [m.message for m in b.require_job(job.id).info_messages]
    assert len(stored) >= 25 and stored == [f"m{i}" for i in range(len(stored))]
    a.flush()
    assert [m.message for m in b.require_job(job.id).info_messages] == [f"m{i}" for i in range(35)]


def test_many_threads_and_jobs_lose_nothing(shared_backend: Backend) -> None:
    store = shared_backend.open(max_messages=5000)
    threads, jobs_each, messages = 8, 4, 150

    def work(n: int) -> list[str]:
        ids = [store.create_job("T", f"w{n}").id for _ in range(jobs_each)]
        for i in range(messages):
            for k, job_id in enumerate(ids):
                store.add_message(job_id, (MessageType.INFO, MessageType.WARNING)[(i + k) % 2], f"{n}:{i}")
        return ids

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    store.flush()
    reader = shared_backend.open()
    for n, ids in enumerate(results):
        for job_id in ids:
            merged = [m.message for m in reader.require_job(job_id).all_messages()]
            assert merged == [f"{n}:{i}" for i in range(messages)]


def test_cap_holds_within_one_batch(shared_backend: Backend) -> None:
    store = shared_backend.open(max_messages=4, message_interval=10)
    job = store.create_job("T", "me")
    cursor = store.read_events().cursor
    for i in range(30):
        store.add_message(job.id, "error" if i % 3 == 0 else "info", f"m{i}")
    store.flush()
    stored = store.require_job(job.id)
    assert [m.message for m in stored.info_messages] == ["m25", "m26", "m28", "m29"]
    assert [m.message for m in stored.error_messages] == ["m18", "m21", "m24", "m27"]
    assert stored.last_activity_time == stored.info_messages[-1].timestamp
    assert len([e for e in events_since(store, cursor) if e.type is EventType.MESSAGE]) == 30  # one event each


def test_message_event_json_matches_the_generic_encoding() -> None:
    for text in ["plain", 'quote " and \\ backslash', "tab\tnewline\n", "ünïcödé ✓ 😀", "\x00\x1f"]:
        message = JobMessage(MessageType.WARNING, text, 1767225600.123456)
        assert json.loads(message_event(message)) == message_data(message)
        assert message_event(message) == json.dumps(message_data(message), separators=(",", ":"))


def test_sqlite_url_option(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/jobs.db?message_interval=0.02")
    try:
        assert store._messages.interval == 0.02
    finally:
        store.close()
    with pytest.raises(ValueError, match="message_interval"):
        SQLiteStore(f"{tmp_path}/jobs.db", message_interval=-1)


def test_redis_going_away_keeps_messages_queued_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        require("no redis-server binary to start and stop a private server")
    assert binary is not None
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        store = wait_for(lambda: _try_open(f"redis://127.0.0.1:{port}/0"), timeout=10, what="Redis to start")
        job = store.create_job("T", "me")
        assert store.add_info_message(job.id, "written at once")
        for i in range(5):
            assert store.add_info_message(job.id, f"queued {i}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    with pytest.raises(StoreError, match="Redis store"):
        store.flush()
    assert store._messages.pending == 5  # nothing dropped: they wait for the store to come back
    # Issue 19 (2): an outage no longer reaches job code through its messages (it failed every running job);
    # the message is kept with the others, and the failure is said once, in the log.
    assert store.add_info_message(job.id, "kept too")
    assert store._messages.pending == 6
    said = [r for r in caplog.records if "messages could not be written" in r.getMessage()]
    assert len(said) == 1 and "Redis store" in said[0].getMessage()
    with pytest.raises(StoreError, match="6 message"):
        store.close()


def _try_open(url: str) -> RedisStore | None:
    try:
        return RedisStore(url, connect_timeout=0.2, message_interval=10)
    except StoreError:
        return None


def test_reads_in_other_threads_see_every_earlier_message(shared_backend: Backend) -> None:
    store = shared_backend.open(message_interval=10)
    job = store.create_job("T", "me")
    store.add_info_message(job.id, "m0")
    sent = threading.Event()
    counts: list[int] = []

    def reader() -> None:
        sent.wait(10)
        counts.append(len(store.require_job(job.id).info_messages))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(1, 20):
        store.add_info_message(job.id, f"m{i}")
    sent.set()
    thread.join(10)
    assert counts == [20]
