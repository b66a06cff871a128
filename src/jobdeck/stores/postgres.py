# Long: one backend's storage steps in one class, as sqlite.py and redis.py; its SQL and its parts live beside it
# (_pg_rows, _pg_saved, _pg_limits, _pg_search, _pg_schema, _pg_workers, _pg_connect, _pg_events) and what the
# steps share in base.py and _buffered.py.
"""The PostgreSQL store: jobs shared by many processes and machines (``pip install 'jobdeck[postgres]'``).

    store = PostgresStore("postgresql://jobdeck@db.internal/app")     # or open_store("postgresql://...")
    store = open_store("postgres://u:p@host/app?schema=ops&prefix=jd_&pool_size=4&stale_after=120")

Every step is one short transaction on a pooled connection (:mod:`._pg_connect`); the tables, their
versioned schema and why a job is split into a cold and a hot row are described in :mod:`._pg_schema`.
State changes, whose rules live in Python (:class:`~jobdeck.stores.base.Store`), read the job ``FOR NO KEY
UPDATE`` and write it back in the same transaction, so two processes cannot both take the last free slot
(creating takes a per-type advisory lock) and two reapers cannot both fail a job. Progress writes are coalesced
and messages written in batches exactly as on SQLite and Redis (:mod:`._buffer`, :mod:`._coalesce`).

Live events: a writing transaction queues its events and sends an empty ``NOTIFY`` on commit; a reader numbers
the queue into the ``events`` table, the truth (``Last-Event-ID`` resumes from it), before reading (``_pg_events``).
The notification only wakes a listening connection (one per store object, opened by the first ``wait_events``);
waiters poll as well, every 50 ms when ``?listen=false`` or while that connection is down, every second otherwise.
``?listen=false`` (PgBouncer in transaction mode: no LISTEN, no server-side prepared statements) turns both off.

Options (URL query or keyword): ``schema`` (public), ``prefix`` (jobdeck_), ``pool_size`` (4),
``connect_timeout`` (5 s), ``listen`` (true), ``progress_interval`` (25 ms), ``message_interval``, ``stale_after`` and
the other limits of :class:`~jobdeck.stores.base.Store`; anything else in the query goes to libpq (``sslmode``...).
``migrate=False`` refuses a schema that is not up to date instead of upgrading it (``jobdeck db upgrade``).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ..core.checks import check_id
from ..core.errors import JobConflictError, StoreError
from ..core.events import EventBatch, EventType, JobEvent, job_data, message_data, progress_data
from ..core.jsoncodec import dumps_text, loads_event_data
from ..core.model import JobInfo, JobMessage, JobStatus, OperationRef
from ..core.operations import OperationTree
from . import _pg_rows, _pg_schedules, _pg_search, _pg_words
from . import _pg_schema as pgs
from ._buffer import DEFAULT_INTERVAL, Write
from ._buffered import BufferedStore
from ._pg_bulk import PgBulkSteps
from ._pg_connect import Listener, Pool, redact, split_options
from ._pg_counts import FOLD_AT, FOLD_EVERY
from ._pg_limits import PgLimits
from ._pg_rows import Event, Statements, fill_messages, load_messages, log_events, messages_args, write_batch
from ._pg_saved import PgSaved
from ._pg_workers import PgWorkers
from ._search import SearchQuery
from ._spend_total import SpendTotal
from ._stored import job_from_row, operation_from_json
from ._summary import Counts
from .base import Change, PastQuery

__all__ = ["PROGRESS_INTERVAL", "PostgresStore"]

_POLL_FAST, _POLL_SLOW = 0.05, 1.0
# Half the other stores' window: a progress value reaches another process's /events through more steps here
# (the write, its NOTIFY, the listening thread, the waiter's read of the events table), and on a busy machine each
# waits for a core. 25 ms keeps the p99 well inside 100 ms, and a job's progress() still costs about a
# microsecond (at most 40 writes a second per job, done by the buffer's thread).
PROGRESS_INTERVAL = 0.025
_VACUUM_EVERY = 5_000  # writes through one store object between vacuums of the hot tables (a few pages each)
_ANALYZE_EVERY = 1_000  # job ends through one store object between ANALYZEs of the jobs and their text
_live: weakref.WeakSet[PostgresStore] = weakref.WeakSet()


class PostgresStore(PgBulkSteps, BufferedStore):
    """Jobs in PostgreSQL tables ``{schema}.{prefix}jobs`` and friends; see the module docstring."""

    scheme = "postgresql"
    _schedule_steps = _pg_schedules.steps  # schedules (issue 23): the store's transactions on their own table

    def __init__(self, url: str, *, schema: str = "public", prefix: str = "jobdeck_", pool_size: int = 4,
                 connect_timeout: float = 5.0, listen: bool = True, migrate: bool = True,
                 progress_interval: float = PROGRESS_INTERVAL, message_interval: float = DEFAULT_INTERVAL,
                 **limits: Any) -> None:
        if not isinstance(url, str):
            raise StoreError(f"PostgreSQL store URL must be a string, got {type(url).__name__}")
        url, options = split_options(url)
        given: dict[str, Any] = {
            "schema": schema, "prefix": prefix, "pool_size": pool_size, "connect_timeout": connect_timeout,
            "listen": listen, "progress_interval": progress_interval, "message_interval": message_interval}
        given.update({k: v for k, v in options.items() if k in given})
        limits.update({k: v for k, v in options.items() if k not in given})  # the URL says it last: it wins
        super().__init__(progress_interval=given["progress_interval"], message_interval=given["message_interval"],
                         **limits)
        self.url = redact(url)
        self.names = pgs.names_of(given)
        self.where = self.names.where(self.url)
        self._url = url
        self._timeout = float(given["connect_timeout"])
        self._listen = bool(given["listen"])
        self.migrated_from, self.schema_version = pgs.prepare(url, self.url, self.names, self._timeout,
                                                              migrate=migrate)
        self._q = Statements(self.names, self.max_events)
        self._pool = Pool(url, self.url, given["pool_size"], self._timeout, prepare=self._listen)
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._writes = itertools.count(1)  # writes through this store object, for the vacuum schedule
        self._ends = itertools.count(1)  # job ends through this store object, for folding the counts (_pg_counts)
        self._has_words: bool | None = None  # see _worded
        _live.add(self)

    def __repr__(self) -> str:
        return f"<PostgresStore {self.where}>"

    @property
    def schema_note(self) -> str:
        """What opening did to the schema, for ``jobdeck serve``'s banner."""
        if self.migrated_from == self.schema_version:
            return f"version {self.schema_version} (up to date)"
        return f"version {self.schema_version}, upgraded from {self.migrated_from} at start"

    # ------------------------------------------------------------------ plumbing

    def _run(self, body: Any, *, read_only: bool = False, durable: bool = True) -> Any:
        if self._closed:
            raise StoreError(f"PostgreSQL store {self.where} is closed")
        return self._pool.run(body, read_only=read_only, durable=durable)

    def ping(self) -> None:
        # A pipelined transaction on a pooled connection, as every step runs (a bare socket check would not do).
        self._run(lambda conn: conn.execute(self._q.newest_event).fetchall(), read_only=True)

    def _forked(self) -> None:
        """In a forked child: the parent's listening thread is not here, and its locks may have been held at the
        fork; the pool opens its own connections (see :mod:`._pg_connect`)."""
        self._listener = None
        self._listener_lock = threading.Lock()  # (the wake-up of event waiters renews itself: _wakeup)

    def _pool_one(self, statement: bytes, args: Any = None, *, prepare: bool | None = None) -> list[tuple[Any, ...]]:
        if self._closed:
            raise StoreError(f"PostgreSQL store {self.where} is closed")
        return self._pool.one(statement, args, prepare=prepare)

    @contextmanager
    def using(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Run this thread's store steps on ``conn``, inside the caller's transaction (no BEGIN/COMMIT of ours):

            with psycopg.connect(url) as conn, conn.transaction(), store.using(conn):
                job = store.create_job("Import", "alice")
                enqueue(conn, job.id)          # both or neither

        Events are announced when the caller commits; until then other store objects do not see the job.
        """
        previous = getattr(self._pool.borrowed, "conn", None)
        self._pool.borrowed.conn = conn
        try:
            yield
        finally:
            self._pool.borrowed.conn = previous

    def _events_written(self) -> None:
        """After a commit of this store object's: wake its waiters; now and then vacuum the hot tables."""
        self._wakeup.notify()
        if next(self._writes) % _VACUUM_EVERY == 0:  # one count per write: next() is atomic under the GIL
            self._pool.maintain(self._q.vacuum)

    def _fold_counts(self, changes: int | None = None) -> None:
        """Fold the job count changes (:mod:`._pg_counts`): after a bulk delete (``changes`` None), every
        FOLD_EVERY-th job end, or a read that summed more than FOLD_AT of them."""
        if changes is None or changes > FOLD_AT:
            self._pool.maintain(self._q.count_fold)

    @property
    def _worded(self) -> bool:
        """Whether past jobs' text has its trigram index (_pg_words: not where pg_trgm could not be created); asked
        at the first search, not when the store opens (opening touches no pooled connection)."""
        if self._has_words is None:
            self._has_words = bool(self._pool_one(_pg_words.HAS_INDEX.encode(),
                                                  (self.names.schema, self.names.prefix + "past_words"))[0][0])
        return self._has_words

    def _woken(self) -> None:
        """A NOTIFY (any process's commit): wake the waiters, nothing else -- the listening thread must be back
        in its wait at once, and other processes' writes are theirs to vacuum after."""
        self._wakeup.notify()

    def _type_lock(self, job_type: str) -> int:
        digest = hashlib.sha256(f"{self.names.schema}.{self.names.prefix}:{job_type}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _missing_or_finished(self, conn: psycopg.Connection[Any], job_id: str) -> bool:
        """After a write to an active job matched no row: False if the job finished, raise if it never was."""
        row = conn.execute(self._q.status, (job_id,)).fetchone()
        if row is None:
            raise self._not_found(job_id)
        self._status.put(job_id, JobStatus(row[0]))
        return False

    # ------------------------------------------------------------------ steps

    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        q = self._q

        def body(conn: psycopg.Connection[Any]) -> None:
            if max_active is not None:
                conn.execute(q.type_lock, (self._type_lock(job.job_type),))
                same = [r[0] for r in conn.execute(q.active_of_type, (job.job_type,))]
                if len(same) >= max_active:
                    raise JobConflictError(job.job_type, max_active, same)
            conn.execute(q.insert_cold, (job.id, *pgs.cold_values(job)))
            conn.execute(q.insert_hot, (job.id, *pgs.hot_values(job)))
            log_events(conn, q, [(job.id, EventType.CREATED.value, dumps_text(job_data(job)))])

        self._run(body)
        self._status_seen(job.id, job.status)
        self._events_written()

    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        self._catch_up(job_id)
        if keep == 0:
            rows = self._pool_one(self._q.read, (job_id,))
            return job_from_row(rows[0]) if rows else None

        def body(conn: psycopg.Connection[Any]) -> JobInfo | None:
            head = conn.execute(self._q.read, (job_id,))
            lines = conn.execute(self._q.messages, messages_args([job_id], keep))  # sent with the first
            row = head.fetchone()
            if row is None:
                return None
            job = job_from_row(row)
            fill_messages(lines.fetchall(), [job])
            return job

        found: JobInfo | None = self._run(body, read_only=True)
        return found

    def _read_operations(self, job_id: str) -> OperationTree | None:
        self._catch_up(job_id)
        rows = self._pool_one(self._q.operations, (job_id,))
        return OperationTree.from_json(rows[0][0]) if rows else None

    def _change(self, job_id: str, change: Change, emit: bool) -> bool:
        self._settle(job_id)  # a status change comes after the messages and progress sent before it
        q = self._q

        def body(conn: psycopg.Connection[Any]) -> tuple[JobInfo, bool]:
            row = conn.execute(q.lock, (job_id,)).fetchone()
            if row is None:
                raise self._not_found(job_id)
            job = job_from_row(row)
            cold, hot = pgs.cold_values(job), pgs.hot_values(job)
            applied = self._apply(change, job)
            if applied is None:
                return job, False
            added = applied.added
            events: list[Event] = []
            if added:  # before the head: its end indexes the job's text, these included (_pg_words)
                conn.execute(q.insert_messages, ([job_id] * len(added), [m.type.value for m in added],
                                                 [m.message for m in added], [m.timestamp for m in added]))
                kinds = sorted({m.type.value for m in added})
                conn.execute(q.cap, {"jobs": [job_id] * len(kinds), "kinds": kinds, "keep": self.max_messages})
                if emit:
                    events += [(job_id, EventType.MESSAGE.value, dumps_text(message_data(m))) for m in added]
            if pgs.cold_values(job) != cold:
                conn.execute(q.update_cold, (*pgs.cold_values(job), job_id))
            if pgs.hot_values(job) != hot:
                conn.execute(q.update_hot, (*pgs.hot_values(job), job_id))
            if emit:
                events.append((job_id, EventType.STATUS.value, dumps_text(job_data(job))))
            log_events(conn, q, events)
            if applied.ended:
                cutoff = self._expired_before(applied.now)
                conn.execute(q.evict, {"cutoff": cutoff, "keep": self.max_past_jobs})
            return job, True

        job, done = self._run(body, durable=emit)  # only heartbeats do not emit
        self._status_seen(job_id, job.status)
        if not done:
            return False
        if job.status.is_terminal:
            ends = next(self._ends)
            if ends % FOLD_EVERY == 0:
                self._fold_counts()
            if ends % _ANALYZE_EVERY == 0:
                # The planner's figures for the tables that grow with the history, kept current here as the hot
                # tables' vacuum is: a burst of jobs before autovacuum's next round left it estimating 29 jobs of a
                # type where there were 2,000, and it sorted all of them for a page of 50 (20 ms instead of 2).
                self._pool.maintain(self._q.analyze)
        if emit:
            self._events_written()
        return True

    def _write_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                        operations: OperationTree | None) -> bool:
        self._messages.flush()  # messages sent before this value go first
        op_json = dumps_text(operation.to_dict()) if operation is not None else None
        tree = operations.to_json() if operations is not None else None
        usage = operations.usage.to_json() if operations is not None and operations.usage is not None else None
        q = self._q

        def body(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(q.progress, {"id": job_id, "p": value, "t": now, "op": op_json,
                                            "tree": tree, "usage": usage}).fetchone()
            if row is None:
                return self._missing_or_finished(conn, job_id)
            current = operation if operation is not None else operation_from_json(row[0])
            log_events(conn, q, [(job_id, EventType.PROGRESS.value, dumps_text(progress_data(value, now, current)))])
            return True

        done: bool = self._run(body, durable=False)
        if done:
            self._events_written()
        return done

    def _write_messages(self, writes: list[Write]) -> dict[str, JobStatus | None]:
        refused: dict[str, JobStatus | None] = self._run(
            lambda conn: write_batch(conn, self._q, writes, self.max_messages), durable=False)
        self._events_written()
        return refused

    def _write_message(self, job_id: str, message: JobMessage) -> bool:
        """One message at once: the first of a job through this store object (see MessageBuffer.add)."""
        self._progress.flush(job_id)
        done: bool = self._run(lambda conn: self._write_one(conn, job_id, message), durable=False)
        if done:
            self._events_written()
        return done

    def _write_one(self, conn: psycopg.Connection[Any], job_id: str, message: JobMessage) -> bool:
        q = self._q
        if conn.execute(q.touch, {"id": job_id, "t": message.timestamp}).fetchone() is None:
            return self._missing_or_finished(conn, job_id)
        kind = message.type.value
        conn.execute(q.insert_messages, ([job_id], [kind], [message.message], [message.timestamp]))
        conn.execute(q.cap, {"jobs": [job_id], "kinds": [kind], "keep": self.max_messages})
        log_events(conn, q, [(job_id, EventType.MESSAGE.value, dumps_text(message_data(message)))])
        return True

    def _query_active(self, job_type: str | None, keep: int | None) -> list[JobInfo]:
        self._catch_up()
        return self._list(self._q.active, {"type": job_type}, keep)

    def _query_past(self, query: PastQuery) -> list[JobInfo]:
        self._catch_up()
        before = query.before
        args = {"types": sorted(query.job_types) if query.job_types is not None else None,
                "statuses": sorted(s.value for s in query.statuses) if query.statuses is not None else None,
                "after": query.start_from, "b_end": before.end_time if before else None,
                "b_id": before.id if before else None, "limit": query.limit}
        return self._list(self._q.past, args, query.keep)

    def _list(self, statement: bytes, args: dict[str, Any], keep: int | None) -> list[JobInfo]:
        # Never prepared: a prepared statement's plan, made for its filters in general and kept while the table
        # grew (until the next ANALYZE), read a type's 50 newest past jobs at 10-50 ms instead of 1-2 (10,000 jobs).
        if keep == 0:
            return [job_from_row(r) for r in self._pool_one(statement, args, prepare=False)]

        def body(conn: psycopg.Connection[Any]) -> list[JobInfo]:
            jobs = [job_from_row(r) for r in conn.execute(statement, args, prepare=False).fetchall()]
            if jobs:
                load_messages(conn, self._q, jobs, keep, self.max_messages)
            return jobs

        found: list[JobInfo] = self._run(body, read_only=True)
        return found

    def _past_counts(self) -> Counts:
        # The kept counts (_pg_counts): a few rows, whatever the history.
        counts: Counts = {}
        rows = self._pool_one(self._q.count_past)
        for job_type, status, count, _ in rows:
            if count:
                counts.setdefault(job_type, {})[JobStatus(status)] = int(count)
        self._fold_counts(sum(int(r[3]) for r in rows))
        return counts

    def _find_ids(self, prefix: str, limit: int) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [r[0] for r in self._pool_one(self._q.find_ids, (escaped + "%", limit))]

    def _search(self, query: SearchQuery) -> list[JobInfo]:
        self._catch_up()  # messages still buffered here are searched too
        indexed = self._worded  # before the transaction: asking may take a pooled connection
        found: list[JobInfo] = self._run(lambda conn: _pg_search.search(conn, self._q, query, indexed=indexed),
                                         read_only=True)
        return found

    def _spend_total(self, query: SearchQuery) -> SpendTotal:
        self._catch_up()  # use still buffered here is counted too
        total: SpendTotal = self._run(lambda conn: _pg_search.spend_total(conn, self._q, query), read_only=True)
        return total

    def _delete_past(self, job_type: str | None) -> list[str]:
        def body(conn: psycopg.Connection[Any]) -> list[str]:
            rows = sorted(conn.execute(self._q.delete_past, {"type": job_type}), key=lambda r: (r[1], r[0]))
            gone = [r[0] for r in rows]
            if gone:
                conn.execute(self._q.delete_messages, (gone,))
            log_events(conn, self._q, [(g, EventType.REMOVED.value, "{}") for g in gone])
            return gone

        gone: list[str] = self._run(body)
        if gone:
            self._events_written()
            self._fold_counts()
        return gone

    # ------------------------------------------------------------------ reads the base class would do slowly

    def _claim(self, name: str, holder: str, now: float, keep: float) -> bool:
        rows = self._pool_one(self._q.claim, {"before": now - keep, "name": name, "holder": holder, "at": now})
        return bool(rows)

    def _read_status(self, job_id: str) -> JobStatus | None:
        check_id(job_id)  # get_status's first step here: the other paths checked the id before they came
        rows = self._pool_one(self._q.status, (job_id,))
        return JobStatus(rows[0][0]) if rows else None

    def stats(self) -> dict[str, int]:
        self._catch_up()
        counts = {s.value: 0 for s in JobStatus}
        rows = self._pool_one(self._q.count_stats)  # the kept counts (_pg_counts)
        for status, count, _ in rows:
            counts[status] = int(count)
        self._fold_counts(sum(int(r[2]) for r in rows))
        return counts

    def count_rows(self) -> dict[str, int]:
        """Rows per table (for tests and diagnostics)."""
        self._catch_up()
        self._run(lambda conn: _pg_rows.sequence_events(conn, self._q), durable=False)
        (row,) = self._pool_one(self._q.count_rows)
        return dict(zip(("jobs", "hot", "messages", "events"), row, strict=True))

    def _limit_steps(self) -> PgLimits:
        return PgLimits(self._run, self.names)

    def _saved_steps(self) -> PgSaved:
        return PgSaved(self._run, self._pool_one, self._q, self._not_found)

    def _worker_steps(self) -> PgWorkers:
        return PgWorkers(self._run, self._pool_one, self.names)

    # ------------------------------------------------------------------ events

    def _read_events(self, after: str | None, limit: int) -> EventBatch:
        self._catch_up(progress=False)
        self._run(lambda conn: _pg_rows.sequence_events(conn, self._q), durable=False)  # number what is queued
        if after is None:
            ((newest,),) = self._pool_one(self._q.newest_event)
            return EventBatch([], str(newest))
        try:
            cursor = int(after)
        except ValueError:
            cursor = -1
        rows = self._pool_one(self._q.events, {"after": max(cursor, 0), "limit": limit})
        newest, oldest = rows[0][0], rows[0][1]
        if oldest is None:
            oldest = newest + 1
        if cursor < 0 or cursor > newest or cursor < oldest - 1:
            # Not a cursor of this store (another database, a recreated schema) or older than the bounded log.
            return EventBatch([], str(newest), reset=True)
        events = [JobEvent(str(i), EventType(t), j, loads_event_data(d)) for _, _, i, t, j, d in rows if i is not None]
        if not events:
            return EventBatch([], after)
        return EventBatch(events, events[-1].id)

    def _wait_events(self, after: str | None, timeout: float) -> EventBatch:
        if self._listen:
            self._ensure_listener()
        return super()._wait_events(after, timeout)

    def _poll_interval(self) -> float:
        # A NOTIFY wakes the waiters when the listening connection is up: polling then only backs it up.
        healthy = self._listener is not None and self._listener.healthy
        return _POLL_SLOW if healthy else _POLL_FAST

    def _ensure_listener(self) -> None:
        if self._listener is None:
            with self._listener_lock:
                if self._listener is None and not self._closed:
                    self._listener = Listener(self._url, self.names.channel, self._timeout, self._woken)

    # ------------------------------------------------------------------ lifecycle

    def _close_backend(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._pool.close()

    @classmethod
    def upgrade(cls, url: str, **options: Any) -> tuple[int, int]:
        """Bring the schema a URL names up to date without opening a store: (version before, version now)."""
        url, found = split_options(url)
        found.update(options)
        names = pgs.names_of({"schema": found.get("schema", "public"), "prefix": found.get("prefix", "jobdeck_")})
        shown = redact(url)
        return pgs.prepare(url, shown, names, float(found.get("connect_timeout", 5.0)), migrate=True)


def _after_fork_in_child() -> None:
    for store in list(_live):
        store._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
