"""What only the Redis store has: connection errors, prefixes, and several store objects (processes) on one
Redis seeing each other's changes at once or within the documented delay."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from jobdeck.core.errors import AbortError, StoreError
from jobdeck.core.events import EventType
from jobdeck.core.model import JobStatus
from jobdeck.runtime.controller import PipelineController
from jobdeck.stores import open_store
from jobdeck.stores.redis import RedisStore
from tests.conftest import free_port, require, wait_for


@pytest.fixture
def pair(redis_url: str, redis_prefix: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two store objects on one prefix: two processes, as far as Redis can tell."""
    a, b = RedisStore(redis_url, prefix=redis_prefix), RedisStore(redis_url, prefix=redis_prefix)
    yield a, b
    a.close()
    b.close()


# ---------------------------------------------------------------------- opening


def test_unreachable_redis_is_one_clear_error_without_the_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreError, match=re.escape("cannot reach Redis at redis://:***@127.0.0.1")) as info:
        RedisStore(url, connect_timeout=0.5)
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("url", ["redis://127.0.0.1:notaport/0", "redis://127.0.0.1:99999/0"])
def test_malformed_url(url: str) -> None:
    with pytest.raises(StoreError, match="Redis"):
        open_store(url)


def test_prefix_from_url_and_isolation(redis_url: str, redis_prefix: str) -> None:
    sep = "&" if "?" in redis_url else "?"
    one = open_store(f"{redis_url}{sep}prefix={redis_prefix}")
    two = RedisStore(redis_url, prefix=f"{redis_prefix}-other")
    try:
        assert isinstance(one, RedisStore) and one.prefix == redis_prefix
        job = one.create_job("T", "me", max_active=1)
        two.create_job("T", "me", max_active=1)  # its own slot: prefixes do not share limits
        assert two.get_job(job.id) is None
        assert [j.id for j in one.get_active_jobs()] == [job.id]
        cursor = two.read_events().cursor
        one.add_info_message(job.id, "only in one")
        assert two.read_events(cursor).events == []
        assert two.delete_all() > 0
        assert one.get_job(job.id) is not None
    finally:
        one.close()
        two.close()


def test_closed_store_says_so(redis_url: str, redis_prefix: str) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.create_job("T", "me")


def test_stored_as_json_text(pair: tuple[RedisStore, RedisStore], redis_url: str) -> None:
    a, _ = pair
    job = a.create_job("T", "me", {"list": [1, 2], "nested": {"ok": True}})
    a.complete_job(job.id, {"rows": 3})
    raw = redis.Redis.from_url(redis_url)  # bytes, as stored
    try:
        head = raw.hgetall(f"{a.prefix}:job:{job.id}")
    finally:
        raw.close()
    assert json.loads(head[b"params"]) == {"list": [1, 2], "nested": {"ok": True}}
    assert json.loads(head[b"result"]) == {"rows": 3}
    assert all(not value.startswith(b"\x80") for value in head.values())  # no pickle protocol header


def test_server_going_away_is_a_store_error() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        require("no redis-server binary to start and stop a private server")
    assert binary is not None
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        store = wait_for(lambda: _try_open(url), timeout=10, what="the private Redis to start")
        job = store.create_job("T", "me")
    finally:
        server.terminate()
        server.wait(timeout=10)
    with pytest.raises(StoreError, match=f"Redis store redis://127.0.0.1:{port}/0"):
        store.require_job(job.id)
    # Issue 19 (2): a message of a job this store object runs is kept through an outage instead of failing the
    # job; closing is when it is known to be lost, and says so.
    assert store.add_info_message(job.id, "nobody listens")
    with pytest.raises(StoreError, match=f"1 message.*Redis store redis://127.0.0.1:{port}/0"):
        store.close()


def _try_open(url: str) -> RedisStore | None:
    try:
        return RedisStore(url, connect_timeout=0.2)
    except StoreError:
        return None


# ---------------------------------------------------------------------- two store objects


def test_two_store_objects_see_each_others_changes(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    cursor = b.read_events().cursor
    job = a.create_job("T", "me", {"n": 1})
    a.add_info_message(job.id, "hello from a")
    seen = b.require_job(job.id)
    assert seen.params == {"n": 1} and [m.message for m in seen.info_messages] == ["hello from a"]
    batch = b.wait_events(cursor, timeout=5)
    assert [e.type for e in batch.events][:2] == [EventType.CREATED, EventType.MESSAGE]
    got = []
    waiter = threading.Thread(target=lambda: got.append(b.wait_events(batch.cursor, timeout=10)))
    waiter.start()
    a.complete_job(job.id, {"ok": 1})
    waiter.join(timeout=15)
    assert [e.data["status"] for e in got[0].events if e.type is EventType.STATUS] == ["completed"]
    assert [j.id for j in b.get_past_jobs()] == [job.id]


def test_abort_from_another_store_reaches_check_abort(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    job = a.create_job("T", "me")
    ctl = PipelineController(job.id, store=a)
    ctl.check_abort()
    calls = 0
    real_hget = a._redis.hget

    def counting_hget(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return real_hget(*args, **kwargs)  # type: ignore[arg-type]

    a._redis.hget = counting_hget  # type: ignore[method-assign]
    started = time.monotonic()
    for _ in range(20_000):
        ctl.check_abort()  # a tight loop: answered from the cache
    elapsed = time.monotonic() - started
    # At most one round trip per cache period (0.1 s), however many checks: never one per check.
    assert calls <= 2 + elapsed / 0.1, (calls, elapsed)
    assert b.request_abort(job.id, "stop from b")

    def noticed() -> bool:
        try:
            ctl.check_abort()
        except AbortError as exc:
            return exc.reason == "stop from b"
        return False

    wait_for(noticed, timeout=2, interval=0.005, what="check_abort() on store a to see the abort from b")


def test_readers_never_see_a_half_finished_job(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    jobs = [a.create_job("T", "me") for _ in range(30)]
    problems: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for job in b.get_past_jobs():
                if job.status is JobStatus.COMPLETED and (job.progress != 1.0 or job.end_time is None
                                                          or job.result != {"done": job.id}):
                    problems.append(f"half-finished: {job.to_dict(messages=0)}")
            for job in b.get_active_jobs():
                if job.status.is_terminal:
                    problems.append(f"terminal job listed as active: {job.id}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for job in jobs:
            a.add_info_message(job.id, "finishing")
            a.complete_job(job.id, {"done": job.id})
    finally:
        stop.set()
        reader.join(timeout=10)
    assert problems == []
    assert len(b.get_past_jobs()) == 30
