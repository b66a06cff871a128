"""Counting probes for benchmarks/engine_cost_bench.py, loaded by ``jobdeck worker --app`` in a subprocess and
imported by the benchmark itself.

Two levels are counted, in whichever process installs them:

- store primitives: every call of the store's one-transaction primitives (``_insert``, ``_change``,
  ``_set_progress``, ``_read``, ``_claim``, ...) and of its public methods, by patching the store *instance*, so
  that a second store in the same process (the benchmark's poller) is not counted;
- round trips: SQL statements (SQLite via ``set_trace_callback`` on every connection ``sqlite3.connect`` opens,
  PostgreSQL via psycopg's ``Cursor.execute``, counted apart: a procrastinate queue speaks psycopg too), and
  packets sent to the store's Redis server (one per command or pipeline: ``Connection.send_packed_command``,
  filtered by the store server's port so that the Celery broker's traffic is left out).

A worker process writes its counts to ``$JOBDECK_COUNTS_DIR/<pid>.json`` every 50 ms, so the benchmark reads
them without stopping it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobdeck import JobRunner, PipelineController, Store

__all__ = ["COUNTS", "PRIMITIVE_READS", "PRIMITIVE_WRITES", "build", "count_store", "install", "paused", "uninstall"]

# The store contract's primitives (stores/base.py): each is one transaction / one script on every store.
PRIMITIVE_WRITES = ("_insert", "_change", "_set_progress", "_add_message", "_claim", "_delete_past",
                    "_delete_jobs", "acquire_slot", "renew_slot", "release_slot", "reserve_rate")
PRIMITIVE_READS = ("_read", "_read_operations", "_query_active", "_query_past", "_read_events", "_wait_events",
                   "_find_ids", "_search", "ping")
PUBLIC = ("create_job", "claim_job", "get_job", "require_job", "update_progress", "add_message", "complete_job",
          "fail_job", "heartbeat", "is_abort_requested", "mark_aborted", "get_status", "save_value",
          "save_values", "flush")

_TRACED = {"call:require_job", "call:get_job", "call:get_status"}

COUNTS: Counter[str] = Counter()
_lock = threading.Lock()
_local = threading.local()
_undo: list[Any] = []  # (owner, attribute, original) to put back


def _bump(key: str, amount: int = 1) -> None:
    if getattr(_local, "paused", False):
        return
    with _lock:
        COUNTS[key] += amount


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Leave this thread's round trips uncounted (the benchmark's own polling)."""
    _local.paused = True
    try:
        yield
    finally:
        _local.paused = False


def count_store(store: Store) -> Store:
    """Count ``store``'s primitives and public calls (``prim:NAME`` / ``call:NAME``) by wrapping its methods on
    the instance."""
    for prefix, names in (("prim", PRIMITIVE_WRITES + PRIMITIVE_READS), ("call", PUBLIC)):
        for name in names:
            method = getattr(store, name, None)
            if method is None:
                continue

            def counted(*args: Any, __m: Any = method, __k: str = f"{prefix}:{name}", **kwargs: Any) -> Any:
                _bump(__k)
                if __k in _TRACED:  # which code asks for the read: the callers two frames up
                    up = sys._getframe(1)
                    _bump(f"at:{__k[5:]}:{up.f_code.co_name}<{up.f_back.f_code.co_name if up.f_back else '?'}")
                t = time.perf_counter()
                try:
                    return __m(*args, **kwargs)
                finally:  # time spent inside, in microseconds (nested calls count in both)
                    _bump("us:" + __k, round((time.perf_counter() - t) * 1e6))

            setattr(store, name, counted)
    return store


def _head(sql: str) -> str:
    """The statement's first keyword (``WITH`` for a CTE, whatever it writes)."""
    words = sql.split(None, 1)
    return words[0].upper().rstrip(";") if words else "?"


def install(redis_port: int | None = None) -> None:
    """Count SQL statements and Redis packets in this process (once)."""
    if _undo:
        return
    import sqlite3

    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> Any:
        conn = connect(*args, **kwargs)

        def trace(sql: str) -> None:
            head = _head(sql)
            _bump("rt:statement")
            _bump("sql:" + head)
            if head in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
                _bump("rt:write_statement")
            elif head == "COMMIT":
                _bump("rt:commit")

        conn.set_trace_callback(trace)
        return conn

    _undo.append((sqlite3, "connect", connect))
    sqlite3.connect = traced
    with contextlib.suppress(ImportError):
        import psycopg

        execute = psycopg.Cursor.execute

        def pg_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            _bump("rt:pg_statement")
            text = query.decode() if isinstance(query, bytes) else query if isinstance(query, str) else ""
            if not text:
                with contextlib.suppress(Exception):
                    text = query.as_string(self.connection)
            head = _head(text)
            _bump("pgsql:" + head)
            return execute(self, query, *args, **kwargs)

        # Commits are not counted here: ``conn.transaction()`` ends with COMMIT without going through execute.
        _undo.append((psycopg.Cursor, "execute", execute))
        psycopg.Cursor.execute = pg_execute  # type: ignore[method-assign]
    if redis_port is not None:
        with contextlib.suppress(ImportError):
            import redis.connection

            send = redis.connection.Connection.send_packed_command

            def sent(self: Any, command: Any, check_health: bool = True) -> None:
                if getattr(self, "port", None) == redis_port:
                    _bump("rt:packet")
                    first = command[0] if isinstance(command, list | tuple) and command else command
                    with contextlib.suppress(Exception):  # b"*3\r\n$7\r\nEVALSHA\r\n...": the first command
                        _bump("redis:" + bytes(first).split(b"\r\n")[2].decode().upper())
                send(self, command, check_health)

            _undo.append((redis.connection.Connection, "send_packed_command", send))
            redis.connection.Connection.send_packed_command = sent  # type: ignore[method-assign]


def uninstall() -> None:
    """Put back what :func:`install` patched (the benchmark process runs other sections afterwards)."""
    while _undo:
        owner, name, original = _undo.pop()
        setattr(owner, name, original)


def _flusher(folder: Path) -> None:
    path = folder / f"{os.getpid()}.json"
    while True:
        with _lock:
            data = json.dumps(dict(COUNTS))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.replace(path)
        time.sleep(0.05)


def build(store: Store) -> JobRunner:
    """The worker's app: one short job type, on a counted store."""
    runner = JobRunner(count_store(store))

    @runner.job("Mark", max_concurrent=100_000)
    def mark(ctl: PipelineController) -> dict[str, float]:
        started = time.time()
        return {"started": started, "finished": time.time()}

    return runner


_folder = os.environ.get("JOBDECK_COUNTS_DIR")
if _folder:  # in the worker: before ``jobdeck worker`` opens its store, so that its connections are traced
    _port = os.environ.get("JOBDECK_COUNTS_REDIS_PORT")
    install(int(_port) if _port else None)
    threading.Thread(target=_flusher, args=(Path(_folder),), daemon=True, name="engine-cost-counts").start()
