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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import StoreError

__all__ = ["DEFAULT_READERS", "ReaderPool"]

DEFAULT_READERS = 4


class ReaderPool:
    """``with pool.snapshot() as conn:`` a read transaction on a pooled, query-only connection."""

    def __init__(self, path: Path, busy_timeout: float, size: int = DEFAULT_READERS, *,
                 refused: str | None = None) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._size = size
        self._idle: list[sqlite3.Connection] = []
        self._busy: set[sqlite3.Connection] = set()  # checked out (known, so that abandon() can keep them)
        self._opened = 0
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        self._paused = False  # a fork is under way: no new checkouts
        self._refused = refused  # why this pool may not be used at all (a child forked while the store was busy)

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
                if self._closed or self._refused is not None:
                    raise StoreError(self._refused or f"SQLite store {self.path} is closed")
                if self._paused:
                    self._cond.wait()
                    continue
                if self._idle:
                    conn = self._idle.pop()
                    self._busy.add(conn)
                    return conn
                if self._opened < self._size:
                    self._opened += 1
                    break
                self._cond.wait()
        try:
            conn = self._open()
        except sqlite3.Error as exc:
            with self._cond:
                self._opened -= 1
                self._cond.notify()
            raise StoreError(f"SQLite store {self.path}: cannot open a reader: {exc}") from exc
        with self._cond:
            self._busy.add(conn)
        return conn

    def _checkin(self, conn: sqlite3.Connection, broken: bool) -> None:
        with self._cond:
            self._busy.discard(conn)
            if self._closed or broken:
                self._opened -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._cond.notify_all()  # a waiting checkout, or a fork waiting for the pool to be idle

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

    def pause(self, timeout: float) -> bool:
        """Before a fork: hold new reads back and wait up to ``timeout`` for those in progress to end. True when
        none is left (call :meth:`resume` afterwards); False when some still run (and the pool is not paused)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._paused = True
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._paused = False
                    self._cond.notify_all()
                    return False
                self._cond.wait(left)
            return True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def abandon(self) -> list[sqlite3.Connection]:
        """In a forked child: every connection of this pool (idle, or checked out by a thread of the parent);
        the pool is unusable afterwards. No lock is taken: one held by another thread at the fork would never be
        released here."""
        self._closed = True
        return [*self._idle, *self._busy]

    def close(self) -> None:
        """Close idle connections now and busy ones when they are handed back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()
