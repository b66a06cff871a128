"""Baselines measured in the same run: what the hardware and the raw clients can do at best.

- a dict update under a ``threading.Lock``: the floor for the memory store's hot paths;
- one redis-py ``HSET`` round trip on the same Redis: what one uncoalesced progress write would cost;
- one sqlite3 ``UPDATE`` + ``COMMIT`` in WAL mode on the same disk: with sqlite3's default durability
  (``synchronous=FULL``, an fsync per commit: the raw write the target is stated against) and with the
  ``synchronous=NORMAL`` the SQLite store itself uses (no fsync: shown for context);
- one batch of messages with their events written raw (:func:`raw_batch`): one sqlite3 transaction with two
  ``executemany`` INSERTs and an UPDATE (as the store's synchronous=NORMAL), or one redis-py MULTI pipeline
  with one RPUSH, an XADD per event and an HSET: the floor of the store's flushed batch.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .timing import per_call, redis_unavailable


def lock_dict_floor(n: int) -> float:
    """Seconds per ``with lock: d[key] = v``, called the way ``controller.progress(v)`` is."""
    lock = threading.Lock()
    state: dict[str, float] = {}

    def update(value: float) -> None:
        with lock:
            state["progress"] = value

    return per_call(update, n)


def lock_dict_read_floor(n: int) -> float:
    """Seconds per ``with lock: return d[key]``: the floor for ``check_abort()``."""
    lock = threading.Lock()
    state = {"status": "running"}

    def read(_: float) -> str:
        with lock:
            return state["status"]

    return per_call(read, n)


def redis_hset_round_trip(url: str, n: int) -> float | None:
    """Median seconds of one ``HSET`` round trip (None without Redis). Uses and deletes one private key."""
    if redis_unavailable(url):
        return None
    import redis

    client = redis.Redis.from_url(url)
    key = f"jobdeck-bench:floor:{uuid.uuid4().hex}"
    try:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for i in range(n):
                client.hset(key, "progress", i / n)
            samples.append((time.perf_counter() - start) / n)
        return statistics.median(samples)
    finally:
        client.delete(key)
        client.close()


def sqlite_update_commit(directory: Path | None, n: int, synchronous: str = "FULL") -> float:
    """Median seconds of one ``UPDATE`` + ``COMMIT`` on a WAL database."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, progress REAL, last_activity REAL)")
            conn.execute("INSERT INTO jobs VALUES ('job', 0, 0)")
            samples = []
            for _ in range(5):
                start = time.perf_counter()
                for i in range(n):
                    conn.execute("BEGIN")
                    conn.execute("UPDATE jobs SET progress = ?, last_activity = ? WHERE id = 'job'",
                                 (i / n, time.time()))
                    conn.execute("COMMIT")
                samples.append((time.perf_counter() - start) / n)
            return statistics.median(samples)
        finally:
            conn.close()


def raw_batch(kind: str, tgt: Any, size: int, repeats: int) -> float:
    """Median seconds of writing ``size`` messages of one job with their events, by hand (see the module
    docstring), on the same disk / Redis server as the store ``tgt``."""
    import json

    samples = []

    def rows(r: int) -> list[tuple[str, str]]:
        now = time.time()
        return [(f"batch {r} message {i}: 312 tokens", json.dumps({"message": {
            "type": "info", "message": f"batch {r} message {i}: 312 tokens", "timestamp": now}}))
            for i in range(size)]

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(dir=Path(tgt.url.removeprefix("sqlite:///")).parent) as tmp:
            conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, last_activity REAL)")
                conn.execute("CREATE TABLE messages (seq INTEGER PRIMARY KEY, job_id TEXT, kind TEXT, text TEXT, "
                             "ts REAL)")
                conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, type TEXT, job_id TEXT, data TEXT)")
                conn.execute("INSERT INTO jobs VALUES ('job', 0)")
                for r in range(repeats):
                    start = time.perf_counter()
                    batch = rows(r)
                    now = time.time()
                    conn.execute("BEGIN")
                    conn.executemany("INSERT INTO messages (job_id, kind, text, ts) VALUES ('job', 'info', ?, ?)",
                                     [(text, now) for text, _ in batch])
                    conn.executemany("INSERT INTO events (type, job_id, data) VALUES ('message', 'job', ?)",
                                     [(data,) for _, data in batch])
                    conn.execute("UPDATE jobs SET last_activity = ? WHERE id = 'job'", (now,))
                    conn.execute("COMMIT")
                    samples.append(time.perf_counter() - start)
            finally:
                conn.close()
    else:
        import redis

        client = redis.Redis.from_url(tgt.url)
        key = f"jobdeck-bench:raw:{uuid.uuid4().hex}"
        try:
            for r in range(repeats):
                start = time.perf_counter()
                batch = rows(r)
                pipe = client.pipeline(transaction=True)
                pipe.rpush(f"{key}:msgs", *[json.dumps([text, time.time()]) for text, _ in batch])
                for _, data in batch:
                    pipe.xadd(f"{key}:events", {"t": "message", "j": "job", "d": data}, maxlen=10_000,
                              approximate=True)
                pipe.hset(f"{key}:job", "last_activity", time.time())
                pipe.execute()
                samples.append(time.perf_counter() - start)
        finally:
            client.delete(f"{key}:msgs", f"{key}:events", f"{key}:job")
            client.close()
    return statistics.median(samples)
