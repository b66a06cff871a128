"""The PostgreSQL store's tables: where they live, their versioned schema, and rows <-> :class:`JobInfo`.

Tables live in one schema (``public`` unless ``?schema=`` says otherwise) and carry one name prefix
(``jobdeck_`` unless ``?prefix=``), so that several deployments, or a test per schema, share a database.

A job is split in two rows: ``jobs`` holds what rarely changes (type, status, times, params, result) and
``job_hot`` what job code writes all the time (progress, current operation, operation tree, last activity,
heartbeat).
``job_hot`` has no index but its primary key and leaves half of each page free (``fillfactor``), so that every
progress write is a HOT update: the new row version goes into the same page and no index is touched, which is
what keeps 100,000 progress writes from growing the table. A job is active exactly while its ``end_time`` is
NULL (every terminal transition sets it); partial indexes make the active and the past lists cheap.

Event ids are handed out by one counter row (``event_seq``), so they are committed in the order of their ids: a
reader that saw id N has seen everything before N (a ``bigserial`` would let a later id commit first and a
reader skip the earlier one for good). Since version 7 writers do not take that row: they append to
``event_queue``, and readers number what is queued before they read (:mod:`._pg_events`, which also lists what
the readers rely on).

``STEPS[n]`` upgrades a schema from version ``n`` to ``n + 1``; :func:`migrate` runs the missing steps in one
transaction under an advisory lock, so two processes starting at once upgrade once, and a failed upgrade
leaves the old version. A schema written by a newer jobdeck is refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..core.errors import StoreError
from ..core.jsoncodec import dumps_text
from ..core.model import JobInfo
from ._pg_connect import connect, explain
from ._pg_counts import SCHEMA_STEP as COUNTS_STEP
from ._pg_words import SCHEMA_STEP as WORDS_STEP
from ._stored import HEAD_FIELDS

__all__ = ["COLD", "HEAD", "LATEST_VERSION", "Names", "cold_values", "hot_values", "migrate_schema", "names_of",
           "prepare", "read_version"]

_WORD = re.compile(r"[a-z_][a-z0-9_]{0,39}\Z")

STEPS: list[list[str]] = [
    # 0 -> 1: jobs split into a cold and a hot row, messages, the event log and its counter.
    [
        """CREATE TABLE {jobs} (
            id text COLLATE "C" PRIMARY KEY,
            seq bigserial NOT NULL,
            job_type text NOT NULL,
            author text NOT NULL,
            status text NOT NULL,
            start_time double precision NOT NULL,
            end_time double precision,
            params text NOT NULL DEFAULT 'null',
            result text NOT NULL DEFAULT 'null',
            owner text,
            abort_reason text,
            abort_time double precision,
            rerun_of text,
            aborted_by text
        )""",
        "CREATE INDEX {jobs_active} ON {jobs} (start_time) WHERE end_time IS NULL",
        "CREATE INDEX {jobs_past} ON {jobs} (end_time, id) WHERE end_time IS NOT NULL",
        "CREATE INDEX {jobs_past_by_type} ON {jobs} (job_type, end_time, id) WHERE end_time IS NOT NULL",
        """CREATE TABLE {hot} (
            id text COLLATE "C" PRIMARY KEY REFERENCES {jobs} (id) ON DELETE CASCADE,
            progress double precision NOT NULL DEFAULT 0,
            operation text,
            last_activity double precision NOT NULL,
            heartbeat_time double precision
        ) WITH (fillfactor = 50)""",
        """CREATE TABLE {messages} (
            seq bigserial PRIMARY KEY,
            job_id text COLLATE "C" NOT NULL REFERENCES {jobs} (id) ON DELETE CASCADE,
            kind text NOT NULL,
            text text NOT NULL,
            ts double precision NOT NULL
        )""",
        "CREATE INDEX {messages_by_job} ON {messages} (job_id, kind, seq)",
        """CREATE TABLE {events} (
            id bigint PRIMARY KEY,
            job_id text NOT NULL,
            type text NOT NULL,
            data text NOT NULL
        )""",
        """CREATE TABLE {event_seq} (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            last_id bigint NOT NULL
        ) WITH (fillfactor = 50)""",
        "INSERT INTO {event_seq} (last_id) VALUES (0)",
        # One-time claims (a webhook delivered once per job and URL however many servers see the event).
        "CREATE TABLE {claims} (name text PRIMARY KEY, holder text NOT NULL, at double precision NOT NULL)",
        "CREATE INDEX {claims_at} ON {claims} (at)",
    ],
    # 1 -> 2: messages without a foreign key (its per-row check cost more than writing the message; jobdeck
    # deletes a job's messages itself, and a batch holds the job's row lock while it writes), and the oldest
    # kept event id on the counter row, so that trimming and reading the log never walk its dead head.
    [
        "ALTER TABLE {messages} DROP CONSTRAINT IF EXISTS {messages_fkey}",
        "ALTER TABLE {event_seq} ADD COLUMN first_id bigint",
        "UPDATE {event_seq} SET first_id = COALESCE((SELECT min(id) FROM {events}), last_id + 1)",
        "ALTER TABLE {event_seq} ALTER COLUMN first_id SET NOT NULL",
    ],
    # 2 -> 3: when a job run by a task engine was queued (NULL for jobs run where they were started).
    [
        "ALTER TABLE {jobs} ADD COLUMN queued_time double precision",
    ],
    # 3 -> 4: the operation tree as its controller last published it (JSON, bounded in size), written with the
    # progress. In the hot row and never indexed, so that these writes stay HOT updates; a tree past about 2 kB
    # goes to TOAST, compressed, leaving the row itself small. Only the view of one job reads it.
    [
        "ALTER TABLE {hot} ADD COLUMN operations text",
    ],
    # 4 -> 5: which run of the job this is (a job whose worker died may go back to the queue).
    [
        "ALTER TABLE {jobs} ADD COLUMN attempt integer NOT NULL DEFAULT 1",
    ],
    # 5 -> 6: retries and resuming (issue 21): how many runs the type allows, when a job waiting for its next
    # attempt is due, which job's saved values a job took over (cold columns: written by state changes only);
    # and the values jobs save, JSON text, removed with their job by the foreign key (saves are rare: once per
    # finished step, so its check costs nothing that matters, unlike on messages).
    [
        "ALTER TABLE {jobs} ADD COLUMN max_attempts integer NOT NULL DEFAULT 1",
        "ALTER TABLE {jobs} ADD COLUMN retry_at double precision",
        "ALTER TABLE {jobs} ADD COLUMN resumed_from text",
        """CREATE TABLE {saved} (
            job_id text COLLATE "C" NOT NULL REFERENCES {jobs} (id) ON DELETE CASCADE,
            key text NOT NULL,
            value text NOT NULL,
            PRIMARY KEY (job_id, key)
        )""",
    ],
    # -> +1: schedules (issue 23): which schedule started a job and when it was due (also a one-off start's
    # ``run_at``; cold columns); the schedules themselves, one row each, JSON text and a revision for
    # compare-and-set.
    [
        "ALTER TABLE {jobs} ADD COLUMN schedule_id text",
        "ALTER TABLE {jobs} ADD COLUMN run_at double precision",
        "CREATE TABLE {schedules} (id text COLLATE \"C\" PRIMARY KEY, rev bigint NOT NULL, data text NOT NULL)",
    ],
    # -> +1: the registry of processes that run jobs (issue 22), one row each, its record as JSON text.
    [
        "CREATE TABLE {workers} (id text PRIMARY KEY, last_seen double precision NOT NULL, data text NOT NULL)",
    ],
    # -> +1: a failed job's signature (issue 22: GET /failures groups by it; a cold column, written when the job
    # fails), with an index over failed jobs only.
    [
        "ALTER TABLE {jobs} ADD COLUMN signature text",
        "CREATE INDEX {jobs_failed} ON {jobs} (signature, end_time, id) INCLUDE (job_type) WHERE status = 'failed'",
    ],
    # -> +1: what the job spent (issue 24): the totals as JSON text, written with the progress, in the hot row beside
    # the operation tree (never indexed, so that these writes stay HOT updates); and the shared limits' leases and
    # rates (_pg_limits.py).
    [
        "ALTER TABLE {hot} ADD COLUMN usage text",
        """CREATE TABLE {limit_slots} (
            name text COLLATE "C" NOT NULL,
            holder text COLLATE "C" NOT NULL,
            waiting boolean NOT NULL,
            capacity integer NOT NULL,
            job_id text NOT NULL,
            expires double precision NOT NULL,
            PRIMARY KEY (name, holder)
        )""",
        """CREATE TABLE {limit_rates} (
            name text COLLATE "C" PRIMARY KEY,
            tat double precision NOT NULL,
            interval double precision NOT NULL
        )""",
    ],
    # -> +1: writers append their events here instead of numbering them on the counter row, whose lock every
    # writer of every job queued on; readers number them in queue order (_pg_events).
    [
        """CREATE TABLE {event_queue} (
            seq bigserial PRIMARY KEY,
            job_id text NOT NULL,
            type text NOT NULL,
            data text NOT NULL
        )""",
    ],
    # -> +1: jobs per (type, status, active or past), kept by triggers that append a change row for every job row
    # written, folded now and then (_pg_counts, issue 26): /stats, /past/summary and the max_past_jobs check of
    # every job end no longer count the history.
    COUNTS_STEP,
    # -> +1: past jobs' searched text, indexed by trigrams where pg_trgm can be had (_pg_words, issue 26).
    WORDS_STEP,
    # -> +1: each job's saved values' total size in bytes (_pg_saved), kept by every save under the job's row lock,
    # so that a save checks the bound by reading one row and the sizes of the keys it replaces, not every value the
    # job saved; removed with the job by the foreign key.
    [
        """CREATE TABLE {saved_size} (
            job_id text COLLATE "C" PRIMARY KEY REFERENCES {jobs} (id) ON DELETE CASCADE,
            bytes bigint NOT NULL
        )""",
        "INSERT INTO {saved_size} (job_id, bytes) SELECT job_id, sum(octet_length(value)) FROM {saved} "
        "GROUP BY job_id",
    ],
]
LATEST_VERSION = len(STEPS)

# The cold columns, in the order of cold_values (inserts and updates).
COLD = ("job_type", "author", "status", "start_time", "end_time", "params", "result", "owner", "abort_reason",
        "abort_time", "rerun_of", "aborted_by", "queued_time", "attempt", "max_attempts", "retry_at", "resumed_from",
        "schedule_id", "run_at", "signature")
# A job's head as job_from_row reads it (:data:`._stored.HEAD_FIELDS`, each from its row); add a WHERE.
_HOT = frozenset({"progress", "operation", "last_activity", "heartbeat_time", "usage"})
_COLUMNS = ", ".join(f"h.{f}" if f in _HOT else f"j.{f}" for f in HEAD_FIELDS)
HEAD = "SELECT " + _COLUMNS + " FROM {jobs} j JOIN {hot} h ON h.id = j.id"


@dataclass(frozen=True)
class Names:
    """Qualified table names for one schema and prefix, and the LISTEN channel of that store."""

    schema: str
    prefix: str

    def __post_init__(self) -> None:
        for what, value in (("schema", self.schema), ("prefix", self.prefix)):
            if not _WORD.match(value) and not (what == "prefix" and value == ""):
                raise StoreError(f"PostgreSQL {what} {value!r} must be lower-case letters, digits and _ "
                                 "(starting with a letter or _, at most 40 characters)")

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, self.prefix + name)

    def mapping(self) -> dict[str, sql.Composable]:
        tables = {n: self.table(n)
                  for n in ("jobs", "hot", "messages", "events", "event_seq", "claims", "schema_version",
                            "saved", "saved_size", "schedules", "workers",
                            "limit_slots", "limit_rates", "event_queue", "job_counts", "job_count_changes",
                            "count_jobs", "past_texts", "word_job")}
        indexes = {n: sql.Identifier(self.prefix + n)
                   for n in ("jobs_active", "jobs_past", "jobs_past_by_type", "messages_by_job", "claims_at",
                             "jobs_failed", "jobs_counted", "jobs_counted_moved", "past_words", "jobs_worded",
                             "jobs_worded_moved")}
        indexes["messages_fkey"] = sql.Identifier(self.prefix + "messages_job_id_fkey")
        return {**tables, **indexes, "schema": sql.Identifier(self.schema)}

    def render(self, template: str) -> bytes:
        """``template`` with ``{jobs}``-style placeholders filled in, as bytes ready to execute."""
        return sql.SQL(template).format(**self.mapping()).as_bytes()

    def where(self, shown_url: str) -> str:
        """How messages name the store: its URL (without password) and tables."""
        return f"{shown_url} (tables {self.schema}.{self.prefix}*)"

    @property
    def lock_key(self) -> int:
        """The advisory lock key of this schema+prefix's migrations (a signed 64-bit integer)."""
        digest = hashlib.sha256(f"jobdeck-migrate:{self.schema}.{self.prefix}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @property
    def counts_key(self) -> int:
        """The advisory lock key of folding this schema+prefix's job count changes (:mod:`._pg_counts`)."""
        digest = hashlib.sha256(f"jobdeck-counts:{self.schema}.{self.prefix}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @property
    def channel(self) -> str:
        """The NOTIFY channel: one per schema+prefix, short and safe to quote."""
        return "jobdeck_" + hashlib.sha256(f"{self.schema}.{self.prefix}".encode()).hexdigest()[:16]


def read_version(conn: psycopg.Connection[Any], names: Names) -> int:
    """The schema's version (0 when jobdeck's tables are not there yet)."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                       (f'"{names.schema}"."{names.prefix}schema_version"',)).fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute(names.render("SELECT max(version) FROM {schema_version}")).fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def migrate_schema(conn: psycopg.Connection[Any], names: Names, where: str) -> int:
    """Bring the schema up to :data:`LATEST_VERSION` in one transaction; returns the version it had.
    ``conn`` is in autocommit mode; ``where`` names the store in messages."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (names.lock_key,))
        version = read_version(conn, names)
        if version > LATEST_VERSION:
            raise StoreError(
                f"PostgreSQL store {where} has schema version {version} but this jobdeck knows only up to "
                f"{LATEST_VERSION}; it was written by a newer jobdeck: upgrade jobdeck or use another schema")
        if version == LATEST_VERSION:
            return version
        # Only when missing: CREATE SCHEMA needs a privilege on the database even with IF NOT EXISTS.
        if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (names.schema,)).fetchone():
            conn.execute(names.render("CREATE SCHEMA {schema}"))
        conn.execute(names.render("CREATE TABLE IF NOT EXISTS {schema_version} "
                                        "(version integer NOT NULL, upgraded_at timestamptz NOT NULL DEFAULT now())"))
        for step in STEPS[version:]:
            for statement in step:
                conn.execute(names.render(statement))
        conn.execute(names.render("INSERT INTO {schema_version} (version) VALUES (%s)"), (LATEST_VERSION,))
    return version


def cold_values(job: JobInfo) -> tuple[Any, ...]:
    """The job's values in :data:`COLD` order. Params and results are JSON text, never pickle."""
    return (job.job_type, job.author, job.status.value, job.start_time, job.end_time,
            dumps_text(job.params), dumps_text(job.result),
            job.owner, job.abort_reason, job.abort_time, job.rerun_of, job.aborted_by, job.queued_time, job.attempt,
            job.max_attempts, job.retry_at, job.resumed_from, job.schedule_id, job.run_at,
            job.signature)


def hot_values(job: JobInfo) -> tuple[Any, ...]:
    op = job.current_operation
    return (job.progress, dumps_text(op.to_dict()) if op else None, job.last_activity_time,
            job.heartbeat_time)


def names_of(given: dict[str, Any]) -> Names:
    for key in ("schema", "prefix"):
        if not isinstance(given[key], str):
            raise StoreError(f"PostgreSQL {key} must be a string, got {given[key]!r}")
    return Names(given["schema"], given["prefix"])


def prepare(url: str, shown: str, names: Names, timeout: float, *, migrate: bool) -> tuple[int, int]:
    """Check that the server answers and the schema is current (upgrading it when ``migrate``); returns
    (version found, version now) -- the version found tells whether this call upgraded."""
    where = names.where(shown)
    with connect(url, shown, timeout) as conn:
        try:
            if migrate:
                before = migrate_schema(conn, names, where)
                return before, LATEST_VERSION
            version = read_version(conn, names)
        except StoreError:
            raise
        except psycopg.Error as exc:
            raise explain(exc, shown, None) from None
    if version != LATEST_VERSION:
        raise StoreError(f"PostgreSQL store {where} has schema version {version}, this jobdeck needs "
                         f"{LATEST_VERSION}: run 'jobdeck db upgrade --store URL' (or let jobdeck migrate)")
    return version, version
