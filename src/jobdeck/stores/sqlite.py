"""The SQLite store: jobs in one file, kept across restarts and shared by the processes of one machine.

    store = SQLiteStore("var/jobs.db")            # or open_store("sqlite:///var/jobs.db")

One writing connection per store object, guarded by a lock: every change is one short transaction (``BEGIN
IMMEDIATE`` for read-modify-write, so two processes cannot interleave a check and an insert), and the file is in
WAL mode, so a process killed mid-write loses at most that transaction. Reads (lists, single jobs, counts,
events) go through a small pool of query-only connections instead (:mod:`~jobdeck.stores._sqlite_readers`): in
WAL mode they neither wait for the writer nor hold it up, and they never take the writer's lock, so however long
a dashboard's read takes, a running job's writes go on. Reads are pushed into SQL: filters, ``LIMIT``, the keyset
cursor and the newest-N message reads (:class:`~jobdeck.stores.base.PastQuery`). Counts per type and status
(``stats()``, ``past_summary()``, the ``max_past_jobs`` check of every job end) are kept by triggers in the
``job_counts`` table, and past jobs' searched text is indexed at their end (:mod:`._sqlite_words`): neither
reads the whole history.

Progress writes are coalesced and messages are written in batches, one transaction every few milliseconds
(:class:`~jobdeck.stores._buffered.BufferedStore`, shared with the Redis store); status changes are written at
once. Other processes learn about events by polling the
``events`` table every 50 ms.

After ``fork()`` (a pre-forking worker pool), a store object the child inherited opens connections of its own
on first use, with fresh locks: SQLite forbids using a connection across ``fork()``, and a lock that another
thread of the parent held at that instant would never be released in the child. So that the child inherits no
transaction in progress, the fork waits (up to ``busy_timeout`` plus a second) for the store's current write
and reads to end, holding new ones back; the child then closes the inherited connections (idle: closing them
there releases only the child's own view of the file's locks, and cannot checkpoint, as the parent holds its
shared lock) before it opens its own. A store still busy at the end of that wait is refused in the child, with
a StoreError saying to open a new store there.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.errors import JobConflictError, StoreError
from ..core.events import EventBatch, EventType, job_data, message_data, progress_data
from ..core.jsoncodec import dumps_text
from ..core.model import JobInfo, JobMessage, JobStatus, OperationRef
from ..core.operations import OperationTree
from ..core.urls import NUMBER, redact_url, split_options
from . import _forks, _sqlite_search, _sqlite_spend
from ._buffer import DEFAULT_INTERVAL, Write
from ._buffered import BufferedStore
from ._search import SearchQuery
from ._spend_total import SpendTotal
from ._sqlite_bulk import SQLiteBulkSteps
from ._sqlite_events import log_event, read_events
from ._sqlite_limits import SqliteLimits
from ._sqlite_messages import CAP_MESSAGES, load_messages, write_batch
from ._sqlite_readers import ReaderPool
from ._sqlite_saved import SQLiteSaved
from ._sqlite_schedules import SQLiteSchedules
from ._sqlite_schema import HEAD_COLUMNS, check_path, connect, job_to_row
from ._sqlite_workers import SQLiteWorkers
from ._stored import job_from_row, operation_from_json
from ._summary import Counts
from .base import Change, PastQuery

__all__ = ["SQLiteStore"]

_SELECT_HEAD = f"SELECT {HEAD_COLUMNS} FROM jobs"  # noqa: S608 - constant column list
_ASSIGN = ", ".join(f"{c.strip()} = ?" for c in HEAD_COLUMNS.split(",")[1:])
_UPDATE_HEAD = f"UPDATE jobs SET {_ASSIGN} WHERE id = ?"  # noqa: S608 - constant column list
_INSERT_HEAD = f"INSERT INTO jobs ({HEAD_COLUMNS}) VALUES ({', '.join('?' * len(HEAD_COLUMNS.split(',')))})"  # noqa: S608

# Connections a forked child inherited in use, which it must neither use nor close (see the module doc); the store
# objects are told of forks by _forks.
_inherited: list[object] = []


class SQLiteStore(SQLiteBulkSteps, BufferedStore):
    """Jobs in a SQLite file.
    ``SQLiteStore(path, progress_interval=0.05, message_interval=0.005, busy_timeout=5.0, **limits)``."""

    scheme = "sqlite"

    def __init__(self, path: str | Path, *, progress_interval: float = 0.05, message_interval: float = DEFAULT_INTERVAL,
                 busy_timeout: float = 5.0, **limits: Any) -> None:
        super().__init__(progress_interval=progress_interval, message_interval=message_interval, **limits)
        self.path = check_path(path)
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(self.path, busy_timeout)
        self._readers = ReaderPool(self.path, busy_timeout)
        self._quiet = False  # the last fork found the store idle (see _before_fork)
        self._refused: str | None = None  # why this forked child may not use the store
        _forks.track(self)

    # ------------------------------------------------------------------ fork

    def _before_fork(self) -> None:
        """Wait for the write and the reads in progress to end, and hold new ones back until the fork is done."""
        bound = self._busy_timeout + 1.0
        self._quiet = False
        if self._lock.acquire(timeout=bound):
            if self._readers.pause(bound):
                self._quiet = True
            else:
                self._lock.release()

    def _after_fork_in_parent(self) -> None:
        if self._quiet:
            self._quiet = False
            self._readers.resume()
            self._lock.release()

    def _after_fork_in_child(self) -> None:
        """Fresh locks; the parent's connections closed (idle) or set aside (busy), new ones opened on first use."""
        self._lock = threading.Lock()  # (the wake-up of event waiters renews itself: _wakeup)
        if self._closed:
            return
        old, self._conn = self._conn, None
        if not self._quiet:
            self._refused = (f"SQLite store {self.path}: this process was forked while another thread was using "
                             "the store; open a new SQLiteStore in the child")
            _inherited.append((old, self._readers.abandon()))
        else:
            for conn in ([old] if old is not None else []) + self._readers.abandon():
                with suppress(sqlite3.Error):
                    conn.close()
        self._readers = ReaderPool(self.path, self._busy_timeout, refused=self._refused)

    @classmethod
    def from_url(cls, url: str, **limits: Any) -> SQLiteStore:
        """``sqlite:///relative/path.db`` (relative to the working directory), ``sqlite:////absolute/path.db``;
        options ``?progress_interval=0.05&message_interval=0.005&busy_timeout=5``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "sqlite":
            raise StoreError(f"not a SQLite URL: {redact_url(url)!r}")
        if parts.netloc not in ("", "localhost"):
            raise StoreError(f"SQLite URL {redact_url(url)!r} names a host; use sqlite:///relative/path.db or "
                             "sqlite:////absolute/path.db")
        path = unquote(parts.path)[1:]  # the first slash separates the (empty) host from the path
        if not path:
            raise StoreError(f"SQLite URL {url!r} has no file path; use sqlite:///jobs.db")
        known = {"progress_interval": NUMBER, "message_interval": NUMBER, "busy_timeout": NUMBER}
        options = split_options(url, known, label="SQLite", error=StoreError, strict=True)[1]
        return cls(path, **options, **limits)

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path}>"

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction under the store lock; sqlite3 errors become one-line StoreErrors."""
        with self._lock:
            if self._closed or self._refused is not None:
                raise StoreError(self._refused or f"SQLite store {self.path} is closed")
            if self._conn is None:  # the first write in a forked child
                self._conn = connect(self.path, self._busy_timeout)
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"SQLite store {self.path}: {exc}") from exc
                raise

    def _event(self, conn: sqlite3.Connection, kind: EventType, job_id: str, data: dict[str, Any]) -> None:
        log_event(conn, kind, job_id, data, self.max_events)

    def _events_written(self) -> None:
        self._wakeup.notify()  # in-process waiters read at once; other processes' find them by polling

    def _append(self, conn: sqlite3.Connection, job_id: str, message: JobMessage) -> None:
        conn.execute("INSERT INTO messages (job_id, kind, text, ts) VALUES (?, ?, ?, ?)",
                     (job_id, message.type.value, message.message, message.timestamp))
        conn.execute(CAP_MESSAGES, (job_id, message.type.value, self.max_messages))

    def _missing_or_finished(self, conn: sqlite3.Connection, job_id: str) -> bool:
        """After an update of an active job matched no row: False if the job finished, raise if it never was."""
        row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise self._not_found(job_id)
        # Only the cache: this runs inside a progress write, and the progress buffer forgets the job itself.
        self._status.put(job_id, JobStatus(row[0]))
        return False

    # ------------------------------------------------------------------ steps

    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        with self._tx() as conn:
            if max_active is not None:
                # Counted in SQL: a type with many queued jobs must not cost a row per job on every start.
                (active,) = conn.execute("SELECT COUNT(*) FROM jobs WHERE end_time IS NULL AND job_type = ?",
                                         (job.job_type,)).fetchone()
                if active >= max_active:
                    same = [r[0] for r in conn.execute(
                        "SELECT id FROM jobs WHERE end_time IS NULL AND job_type = ? ORDER BY start_time",
                        (job.job_type,))]
                    raise JobConflictError(job.job_type, max_active, same)
            conn.execute(_INSERT_HEAD, job_to_row(job))
            self._event(conn, EventType.CREATED, job.id, job_data(job))
        self._status_seen(job.id, job.status)
        self._events_written()

    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        self._catch_up(job_id)
        with self._readers.snapshot() as conn:
            row = conn.execute(f"{_SELECT_HEAD} WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            job = job_from_row(row)
            if keep != 0:
                load_messages(conn, [job], keep)
        return job

    def _read_operations(self, job_id: str) -> OperationTree | None:
        self._catch_up(job_id)
        with self._readers.snapshot() as conn:
            row = conn.execute("SELECT operations FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return OperationTree.from_json(row[0]) if row is not None else None

    def _change(self, job_id: str, change: Change, emit: bool) -> bool:
        self._settle(job_id)  # a status change comes after the messages and progress sent before it
        with self._tx() as conn:
            row = conn.execute(f"{_SELECT_HEAD} WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise self._not_found(job_id)
            job = job_from_row(row)
            applied = self._apply(change, job)
            refused = JobStatus(row[3]) if applied is None else None  # the status column, as read
            if applied is not None:
                # The messages first: the head's end indexes the job's text, these included (_sqlite_words).
                for message in applied.added:
                    self._append(conn, job_id, message)
                    if emit:
                        self._event(conn, EventType.MESSAGE, job_id, message_data(message))
                conn.execute(_UPDATE_HEAD, (*job_to_row(job)[1:], job_id))
                if emit:
                    self._event(conn, EventType.STATUS, job_id, job_data(job))
                if applied.ended:
                    self._evict(conn, applied.now)
        if refused is not None:
            self._status_seen(job_id, refused)
            return False
        self._status_seen(job_id, job.status)
        if emit:
            self._events_written()
        return True

    def _claim(self, name: str, holder: str, now: float, keep: float) -> bool:
        with self._tx() as conn:
            conn.execute("DELETE FROM claims WHERE at < ?", (now - keep,))
            cur = conn.execute("INSERT OR IGNORE INTO claims (name, holder, at) VALUES (?, ?, ?)",
                               (name, holder, now))
            return cur.rowcount == 1

    def _evict(self, conn: sqlite3.Connection, now: float) -> None:
        """Past jobs beyond max_past_jobs or older than max_past_age go, oldest first, with their messages."""
        victims: list[str] = []
        cutoff = self._expired_before(now)
        if cutoff is not None:
            victims += [r[0] for r in conn.execute(
                "SELECT id FROM jobs WHERE end_time IS NOT NULL AND end_time < ?", (cutoff,))]
        # The kept counts (the schema's triggers), not a COUNT: that walked every past job on every job end.
        (past,) = conn.execute("SELECT COALESCE(SUM(n), 0) FROM job_counts WHERE past").fetchone()
        excess = past - len(victims) - self.max_past_jobs
        if excess > 0:
            victims += [r[0] for r in conn.execute(
                "SELECT id FROM jobs WHERE end_time IS NOT NULL AND end_time >= ? ORDER BY end_time, id "
                "LIMIT ?", (cutoff if cutoff is not None else float("-inf"), excess))]
        if victims:
            conn.executemany("DELETE FROM messages WHERE job_id = ?", [(v,) for v in victims])
            conn.executemany("DELETE FROM saved WHERE job_id = ?", [(v,) for v in victims])
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(v,) for v in victims])

    def _write_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                        operations: OperationTree | None) -> bool:
        self._messages.flush()  # messages sent before this value go first
        op_json = dumps_text(operation.to_dict()) if operation is not None else None
        tree = operations.to_json() if operations is not None else None
        usage = operations.usage.to_json() if operations is not None and operations.usage is not None else None
        with self._tx() as conn:
            rows = conn.execute(
                "UPDATE jobs SET progress = ?, last_activity = ?, operation = COALESCE(?, operation), "
                "operations = COALESCE(?, operations), usage = COALESCE(?, usage) WHERE id = ? AND end_time IS NULL "
                "RETURNING operation", (value, now, op_json, tree, usage, job_id)).fetchall()
            if not rows:
                return self._missing_or_finished(conn, job_id)
            current = operation if operation is not None else operation_from_json(rows[0][0])
            self._event(conn, EventType.PROGRESS, job_id, progress_data(value, now, current))
        self._events_written()
        return True

    def _write_messages(self, writes: list[Write]) -> dict[str, JobStatus | None]:
        with self._tx() as conn:
            refused = write_batch(conn, writes, self.max_messages, self.max_events)
        self._events_written()
        return refused

    def _write_message(self, job_id: str, message: JobMessage) -> bool:
        """One message at once: the first of a job through this store object (see MessageBuffer.add)."""
        self._progress.flush(job_id)
        with self._tx() as conn:
            cur = conn.execute("UPDATE jobs SET last_activity = ? WHERE id = ? AND end_time IS NULL",
                               (message.timestamp, job_id))
            if cur.rowcount == 0:
                return self._missing_or_finished(conn, job_id)
            self._append(conn, job_id, message)
            self._event(conn, EventType.MESSAGE, job_id, message_data(message))
        self._events_written()
        return True

    def _query_active(self, job_type: str | None, keep: int | None) -> list[JobInfo]:
        self._catch_up()
        where, args = ("end_time IS NULL", []) if job_type is None else ("end_time IS NULL AND job_type = ?",
                                                                        [job_type])
        with self._readers.snapshot() as conn:
            # In creation order, as the other stores list them (a claimed job's start_time moved on).
            jobs = [job_from_row(r) for r in conn.execute(
                f"{_SELECT_HEAD} WHERE {where} ORDER BY COALESCE(queued_time, start_time), rowid", args)]
            if keep != 0 and jobs:
                load_messages(conn, jobs, keep)
        return jobs

    def _query_past(self, query: PastQuery) -> list[JobInfo]:
        # No _settle(): a past job's messages and progress were written before its terminal status (_change
        # settles first), so nothing buffered can belong in this answer; a reader never writes for the job.
        where = ["end_time IS NOT NULL"]
        args: list[str | float | int] = []
        if query.job_types is not None:
            where.append(f"job_type IN ({','.join('?' * len(query.job_types))})" if query.job_types else "0")
            args += sorted(query.job_types)
        if query.statuses is not None:
            where.append(f"status IN ({','.join('?' * len(query.statuses))})" if query.statuses else "0")
            args += sorted(s.value for s in query.statuses)
        if query.start_from is not None:
            where.append("end_time > ?")
            args.append(query.start_from)
        if query.before is not None:
            where.append("(end_time, id) < (?, ?)")
            args += [query.before.end_time, query.before.id]
        sql = f"{_SELECT_HEAD} WHERE {' AND '.join(where)} ORDER BY end_time DESC, id DESC"
        if query.limit is not None:
            sql += " LIMIT ?"
            args.append(query.limit)
        with self._readers.snapshot() as conn:
            jobs = [job_from_row(r) for r in conn.execute(sql, args)]
            if query.keep != 0 and jobs:
                load_messages(conn, jobs, query.keep)
        return jobs

    def _past_counts(self) -> Counts:
        counts: Counts = {}
        with self._readers.snapshot() as conn:
            # Kept by the schema's triggers with every job row written: a few rows, whatever the history.
            for job_type, status, count in conn.execute(
                    "SELECT job_type, status, n FROM job_counts WHERE past AND n > 0"):
                counts.setdefault(job_type, {})[JobStatus(status)] = count
        return counts

    def _find_ids(self, prefix: str, limit: int) -> list[str]:
        with self._readers.snapshot() as conn:
            return _sqlite_search.find_ids(conn, prefix, limit)

    def _search(self, query: SearchQuery) -> list[JobInfo]:
        self._catch_up()
        with self._readers.snapshot() as conn:
            return _sqlite_search.search(conn, query)

    def _spend_total(self, query: SearchQuery) -> SpendTotal:
        self._catch_up()
        with self._readers.snapshot() as conn:
            return _sqlite_spend.spend_total(conn, query)

    def _delete_past(self, job_type: str | None) -> list[str]:
        with self._tx() as conn:
            if job_type is None:
                rows = conn.execute("SELECT id FROM jobs WHERE end_time IS NOT NULL ORDER BY end_time, rowid")
            else:
                rows = conn.execute("SELECT id FROM jobs WHERE end_time IS NOT NULL AND job_type = ? "
                                    "ORDER BY end_time, rowid", (job_type,))
            gone = [r[0] for r in rows]
            conn.executemany("DELETE FROM messages WHERE job_id = ?", [(g,) for g in gone])
            conn.executemany("DELETE FROM saved WHERE job_id = ?", [(g,) for g in gone])
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(g,) for g in gone])
            for job_id in gone:
                self._event(conn, EventType.REMOVED, job_id, {})
        if gone:
            self._events_written()
        return gone

    # ------------------------------------------------------------------ reads the base class would do slowly

    def _read_status(self, job_id: str) -> JobStatus | None:
        with self._readers.snapshot() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobStatus(row[0]) if row is not None else None

    def stats(self) -> dict[str, int]:
        # Statuses are written at once, never buffered: nothing to settle first.
        counts = {s.value: 0 for s in JobStatus}
        with self._readers.snapshot() as conn:
            for status, count in conn.execute("SELECT status, SUM(n) FROM job_counts GROUP BY status"):
                counts[status] = count
        return counts

    def count_rows(self) -> dict[str, int]:
        """Rows per table: how big the file's content is (for tests and ``jobdeck`` diagnostics)."""
        self._catch_up()
        with self._readers.snapshot() as conn:
            return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                    for t in ("jobs", "messages", "events")}

    def _limit_steps(self) -> SqliteLimits:
        return SqliteLimits(self._tx)

    def _saved_steps(self) -> SQLiteSaved:
        return SQLiteSaved(self._tx, self._readers.snapshot, self._not_found)

    def _schedule_steps(self) -> SQLiteSchedules:
        return SQLiteSchedules(self._tx, self._readers.snapshot)

    def _worker_steps(self) -> SQLiteWorkers:
        return SQLiteWorkers(self._tx, self._readers.snapshot)

    # ------------------------------------------------------------------ events

    def _read_events(self, after: str | None, limit: int) -> EventBatch:
        self._catch_up(progress=False)
        with self._readers.snapshot() as conn:
            return read_events(conn, after, limit)

    # ------------------------------------------------------------------ lifecycle

    def _close_backend(self) -> None:
        self._readers.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()

