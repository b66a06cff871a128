"""Baselines measured in the same run: what the hardware and the raw clients can do at best.

- a dict update under a ``threading.Lock``: the floor for the memory store's hot paths;
- one redis-py ``HSET`` round trip on the same Redis: what one uncoalesced progress write would cost;
- one sqlite3 ``UPDATE`` + ``COMMIT`` in WAL mode on the same disk: with sqlite3's default durability
  (``synchronous=FULL``, an fsync per commit: the raw write the target is stated against) and with the
  ``synchronous=NORMAL`` the SQLite store itself uses (no fsync: shown for context).
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

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
