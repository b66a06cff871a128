"""Read-only connections to a SQLite store's file, so that reads never wait for the writer nor hold it up.

The store writes through one connection guarded by its lock. Reads go through these instead: in WAL mode a
reader sees the last committed state and neither blocks a writer nor is blocked by one, so a dashboard pulling
thousands of messages cannot stall a running job's ``progress()`` -- neither through SQLite's locks nor through
the store's own lock, which a read never takes. Rows are decoded and serialised by the reading thread, outside
every lock.

The pool is small and bounded (readers beyond it wait for a free connection, not for the writer): every
connection costs a page cache, and two cores gain nothing from more parallel readers.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError

__all__ = ["DEFAULT_READERS", "ReaderPool"]

DEFAULT_READERS = 4


class ReaderPool:
    """``with pool.snapshot() as conn:`` a read transaction on a pooled, query-only connection."""

    def __init__(self, path: Path, busy_timeout: float, size: int = DEFAULT_READERS) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._size = size
        self._idle: list[sqlite3.Connection] = []
        self._opened = 0
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        # The writer's connection already created the file, upgraded its schema and turned on WAL (a property
        # of the file), so a reader needs none of that.
        conn = sqlite3.connect(str(self.path), timeout=self._busy_timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _checkout(self) -> sqlite3.Connection:
        with self._cond:
            while True:
                if self._closed:
                    raise StoreError(f"SQLite store {self.path} is closed")
                if self._idle:
                    return self._idle.pop()
                if self._opened < self._size:
                    self._opened += 1
                    break
                self._cond.wait()
        try:
            return self._open()
        except sqlite3.Error as exc:
            with self._cond:
                self._opened -= 1
                self._cond.notify()
            raise StoreError(f"SQLite store {self.path}: cannot open a reader: {exc}") from exc

    def _checkin(self, conn: sqlite3.Connection, broken: bool) -> None:
        with self._cond:
            if self._closed or broken:
                self._opened -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._cond.notify()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every statement inside sees the same committed state."""
        conn = self._checkout()
        broken = False
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                broken = True
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc
            raise
        finally:
            self._checkin(conn, broken)

    def close(self) -> None:
        """Close idle connections now and busy ones when they are handed back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()
