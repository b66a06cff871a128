"""``/events`` over a real uvicorn: delivery, resume without loss, reset, pings, fan-out and slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from jobdeck import MemoryStore
from jobdeck.api import create_app
from jobdeck.api._sse import PING, Multiplexer
from tests.api.conftest import AUTH, PREFIX, TOKEN, live_server
from tests.api.sse_client import SSEReader
from tests.conftest import wait_for


@pytest.fixture
def sse_app(store: MemoryStore) -> FastAPI:
    return create_app(store=store, token=TOKEN, ping_interval=0.3)


@pytest.fixture
def url(sse_app: FastAPI) -> Iterator[str]:
    with live_server(sse_app) as base:
        yield base + PREFIX + "/events"


def test_stream_starts_with_retry_and_hello_then_delivers_changes(url: str, store: MemoryStore) -> None:
    with SSEReader(url, AUTH) as sse:
        assert sse.response.headers["content-type"].startswith("text/event-stream")
        hello = sse.next_frame()
        assert hello.event == "hello" and hello.data == {"cursor": store.read_events().cursor}
        assert sse.retry == "1000"
        job = store.create_job("Manual", "me")
        store.update_progress(job.id, 0.5)
        store.add_warning_message(job.id, "careful")
        store.complete_job(job.id, {"ok": True})
        frames = sse.frames_until(lambda f: f.event == "status")
    assert [f.event for f in frames] == ["created", "progress", "message", "status"]
    for frame in frames:
        assert frame.id == frame.data["id"] and frame.data["jobId"] == job.id and frame.data["type"] == frame.event
    assert frames[1].data["data"]["progress"] == 0.5
    assert frames[2].data["data"]["message"]["message"] == "careful"
    assert frames[3].data["data"]["status"] == "completed" and frames[3].data["data"]["result"] == {"ok": True}


def test_stream_needs_authentication(url: str) -> None:
    with SSEReader(url) as sse:
        assert sse.response.status_code == 401


def test_resume_from_the_recent_buffer_misses_nothing(url: str, store: MemoryStore) -> None:
    job = store.create_job("Manual", "me")
    with SSEReader(url, AUTH) as sse:
        sse.next_frame()
        for i in range(3):
            store.add_info_message(job.id, f"first {i}")
        seen = sse.next_frame()  # read one, then drop the connection with two more undelivered to us
    for i in range(2):
        store.add_info_message(job.id, f"second {i}")
    expected = [e.id for e in store.read_events(seen.id).events]
    assert len(expected) == 4
    with SSEReader(url, {**AUTH, "Last-Event-ID": str(seen.id)}) as sse:
        hello = sse.next_frame()
        assert hello.event == "hello" and hello.id is None  # a resuming client keeps its own position
        frames = sse.frames_until(lambda f: f.id == expected[-1])
        assert [f.id for f in frames] == expected
        store.add_info_message(job.id, "live")
        live = sse.next_frame()
        assert live.data["data"]["message"]["message"] == "live"


def test_resume_from_the_store_log_when_the_buffer_never_saw_it(store: MemoryStore) -> None:
    job = store.create_job("Manual", "me")
    first = store.read_events().cursor
    for i in range(5):
        store.add_info_message(job.id, f"before the server {i}")
    expected = [e.id for e in store.read_events(first).events]
    with live_server(create_app(store=store, token=TOKEN)) as base, \
            SSEReader(base + PREFIX + "/events", AUTH, params={"lastEventId": str(first)}) as sse:
        assert sse.next_frame().event == "hello"
        frames = sse.frames_until(lambda f: f.id == expected[-1])
        assert [f.id for f in frames] == expected
        store.add_info_message(job.id, "after")
        assert sse.next_frame().data["data"]["message"]["message"] == "after"


def test_reset_when_the_resume_point_is_lost(store: MemoryStore) -> None:
    small = MemoryStore(max_events=3)
    job = small.create_job("Manual", "me")
    old = small.read_events().cursor
    for i in range(10):
        small.add_info_message(job.id, f"m{i}")
    with live_server(create_app(store=small, token=TOKEN)) as base:
        for last in (str(old), "not-an-id"):
            with SSEReader(base + PREFIX + "/events", {**AUTH, "Last-Event-ID": last}) as sse:
                assert sse.next_frame().event == "hello"
                reset = sse.next_frame()
                assert reset.event == "reset" and reset.data == {"cursor": small.read_events().cursor}
                assert reset.id == reset.data["cursor"]
                small.add_info_message(job.id, "after reset")
                assert sse.next_frame().data["data"]["message"]["message"] == "after reset"


def test_pings_keep_the_stream_alive(url: str) -> None:
    with SSEReader(url, AUTH) as sse:
        sse.next_frame()
        sse.wait_comment(PING.decode().strip())


def test_many_clients_get_every_event(url: str, store: MemoryStore) -> None:
    readers = [SSEReader(url, AUTH) for _ in range(25)]
    try:
        for reader in readers:
            assert reader.next_frame().event == "hello"
        job = store.create_job("Manual", "me")
        for i in range(20):
            store.add_info_message(job.id, f"m{i}")
        store.complete_job(job.id)
        expected = [e.id for e in store.read_events("0").events if e.job_id == job.id]
        for reader in readers:
            frames = reader.frames_until(lambda f: f.event == "status")
            assert [f.id for f in frames] == expected
    finally:
        for reader in readers:
            reader.close()


@pytest.mark.anyio
async def test_a_slow_client_is_reset_and_never_blocks_the_others(store: MemoryStore) -> None:
    mux = Multiplexer(store, queue_size=2, poll_timeout=0.05)
    slow, _ = await mux.subscribe(None)
    fast, _ = await mux.subscribe(None)
    received: list[bytes] = []
    job = store.create_job("Manual", "me")
    try:
        for i in range(6):  # one batch per message: wait until the multiplexer handed each one out
            store.add_info_message(job.id, f"m{i}")
            cursor = store.read_events().cursor
            for _ in range(500):
                if mux.head == cursor:
                    break
                await asyncio.sleep(0.01)
            assert mux.head == cursor
            while not fast.queue.empty():
                received.append(fast.queue.get_nowait())
        assert slow.resets >= 1
        pending = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert any(b"event: reset" in chunk for chunk in pending)
        assert len(pending) <= 2  # bounded: what it could not take was dropped, not buffered
        delivered = b"".join(received)
        assert all(f"m{i}".encode() in delivered for i in range(6)) and b"reset" not in delivered
    finally:
        mux.close()
    assert mux.client_count == 0


def test_stream_of_a_removed_job_and_a_client_that_leaves(url: str, store: MemoryStore, sse_app: FastAPI) -> None:
    mux: Multiplexer = sse_app.state.deck.mux
    with SSEReader(url, AUTH) as sse:
        sse.next_frame()
        wait_for(lambda: mux.client_count == 1, what="the client to be registered")
        job = store.create_job("Manual", "me")
        store.complete_job(job.id)
        store.cleanup_past_jobs()
        frames = sse.frames_until(lambda f: f.event == "removed")
        assert frames[-1].data == {"id": frames[-1].id, "type": "removed", "jobId": job.id, "data": {}}
    wait_for(lambda: mux.client_count == 0, what="the departed client to be unsubscribed")


@pytest.mark.anyio
async def test_a_lost_upstream_position_resets_every_client(store: MemoryStore) -> None:
    mux = Multiplexer(store, poll_timeout=0.05)
    one, _ = await mux.subscribe(None)
    two, _ = await mux.subscribe(None)
    try:
        # what the reader thread hands over when the store says its cursor fell out of the log
        mux._deliver(mux._stop, [], "77", False)  # type: ignore[arg-type]
        for client in (one, two):
            chunk = client.queue.get_nowait()
            assert chunk == b'id: 77\nevent: reset\ndata: {"cursor":"77"}\n\n'
        assert mux.head == "77"
        # the buffer no longer serves resumes; the store does not know id 1 either (it holds no events)
        _, first = await mux.subscribe("1")
        assert first.endswith(b'event: reset\ndata: {"cursor":"77"}\n\n')
    finally:
        mux.close()
