"""The one reader behind ``/events`` survives any single bad event (over a real uvicorn): a value no JSON reader
holds is degraded on its own, data that does not decode is delivered empty, and events a store keeps failing to
read are skipped with a reset, while pings go on and later events still arrive."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jobdeck import MemoryStore
from jobdeck.api import create_app
from jobdeck.api._sse import PING
from jobdeck.core.events import EventBatch
from jobdeck.stores.sqlite import SQLiteStore
from tests.api.conftest import AUTH, PREFIX, TOKEN, live_server
from tests.api.sse_client import SSEReader

BIG = 1237940039285380274899124224


def test_bad_event_data_in_a_sqlite_file_degrades_alone(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path)
    job = store.create_job("Old", "me")
    app = create_app(store=store, token=TOKEN, ping_interval=0.3)
    try:
        with live_server(app) as base, SSEReader(base + PREFIX + "/events", AUTH) as sse:
            assert sse.next_frame().event == "hello"
            # What an older version could have written: a status event with a result beyond 64 bits, and a
            # message event whose data was damaged.
            with sqlite3.connect(path) as conn:
                conn.execute("INSERT INTO events (job_id, type, data) VALUES (?, 'status', ?)",
                             (job.id, f'{{"id": "{job.id}", "status": "completed", "result": {{"n": {BIG}}}}}'))
                conn.execute("INSERT INTO events (job_id, type, data) VALUES (?, 'message', '{broken')", (job.id,))
            store.add_info_message(job.id, "after the bad ones")
            frames = sse.frames_until(lambda f: f.event == "message" and f.data["data"].get("message"))
            status = next(f for f in frames if f.event == "status")
            assert status.data["data"]["result"] == {"n": str(BIG)}
            assert next(f.data["data"] for f in frames if f.event == "message") == {}
            assert frames[-1].data["data"]["message"]["message"] == "after the bad ones"
            sse.wait_comment(PING.decode().strip())
    finally:
        store.close()


class FailingStore(MemoryStore):
    """A memory store that cannot read a batch holding an event of a poisoned job (as a store whose stored
    event cannot be decoded), while everything else works."""

    poisoned: frozenset[str] = frozenset()

    def _wait_events(self, after: str | None, timeout: float) -> EventBatch:
        batch = super()._wait_events(after, timeout)
        if any(e.job_id in self.poisoned for e in batch.events):
            raise RuntimeError("cannot decode a stored event")
        return batch


def test_the_reader_skips_events_it_keeps_failing_on_and_carries_on() -> None:
    store = FailingStore()
    app = create_app(store=store, token=TOKEN, ping_interval=0.1)
    with live_server(app) as base, SSEReader(base + PREFIX + "/events", AUTH) as sse:
        assert sse.next_frame().event == "hello"
        store.poisoned = frozenset({store.create_job("Poison", "me", {"n": 1}).id})
        frames = sse.frames_until(lambda f: f.event == "reset")
        assert [f.event for f in frames] == ["reset"]  # the poisoned event is never sent
        assert frames[0].data == {"cursor": store.read_events().cursor}
        assert PING.decode().strip() in sse.comments  # pings went on while the reader failed
        good = store.create_job("Fine", "me")
        created = sse.next_frame()
        assert created.event == "created" and created.data["jobId"] == good.id
