"""The SQLite store's file: opening it, its schema and upgrade steps, and the mapping between rows and
:class:`JobInfo`.

The schema version lives in ``PRAGMA user_version``. ``STEPS[n]`` upgrades a file from version ``n`` to
``n + 1``; opening a file runs the steps it lacks in one transaction, so a crash during an upgrade leaves the
file at its old version. A file written by a newer jobdeck is refused rather than guessed at.

A job is active exactly while its ``end_time`` is NULL (every terminal transition sets it); the partial indexes
below make the active list and the past list (newest ended first) cheap however many rows the other one has.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError, StoreError
from ..core.jsoncodec import dumps_text
from ..core.model import JobInfo
from ._sqlite_failures import SCHEMA_STEP as FAILURES_STEP
from ._sqlite_words import SCHEMA_STEP as WORDS_STEP
from ._stored import HEAD_FIELDS

__all__ = ["HEAD_COLUMNS", "LATEST_VERSION", "STEPS", "check_path", "connect", "job_to_row", "migrate"]

STEPS: list[list[str]] = [
    # 0 -> 1: jobs, their messages, and the bounded change log.
    [
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            job_type TEXT NOT NULL,
            author TEXT NOT NULL,
            status TEXT NOT NULL,
            progress REAL NOT NULL DEFAULT 0,
            start_time REAL NOT NULL,
            end_time REAL,
            last_activity REAL NOT NULL,
            params TEXT NOT NULL DEFAULT 'null',
            result TEXT NOT NULL DEFAULT 'null',
            operation TEXT,
            abort_reason TEXT,
            abort_time REAL
        )""",
        "CREATE INDEX jobs_past ON jobs(end_time) WHERE end_time IS NOT NULL",
        """CREATE TABLE messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            ts REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_job ON messages(job_id, kind, seq)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
    ],
    # 1 -> 2: owner and heartbeat, so that a job of a dead process can be told from a busy one; an index for
    # the active list and the max_active check.
    [
        "ALTER TABLE jobs ADD COLUMN owner TEXT",
        "ALTER TABLE jobs ADD COLUMN heartbeat_time REAL",
        "CREATE INDEX jobs_active ON jobs(start_time) WHERE end_time IS NULL",
    ],
    # 2 -> 3: the past list is ordered by (end_time, id) so that a cursor names one place in it (keyset
    # paging); one index per order a page is read in: all types, or one type.
    [
        "DROP INDEX jobs_past",
        "CREATE INDEX jobs_past ON jobs(end_time, id) WHERE end_time IS NOT NULL",
        "CREATE INDEX jobs_past_by_type ON jobs(job_type, end_time, id) WHERE end_time IS NOT NULL",
    ],
    # 3 -> 4: which job a job re-ran.
    [
        "ALTER TABLE jobs ADD COLUMN rerun_of TEXT",
    ],
    # 4 -> 5: who asked for an abort; one-time claims (a webhook delivered once per job and URL however many
    # server processes watch the store).
    [
        "ALTER TABLE jobs ADD COLUMN aborted_by TEXT",
        "CREATE TABLE claims (name TEXT PRIMARY KEY, holder TEXT NOT NULL, at REAL NOT NULL)",
        "CREATE INDEX claims_at ON claims(at)",
    ],
    # 5 -> 6: when a job run by a task engine was queued (NULL for jobs run where they were started).
    [
        "ALTER TABLE jobs ADD COLUMN queued_time REAL",
    ],
    # 6 -> 7: the operation tree as its controller last published it (JSON, bounded in size). Not one of
    # HEAD_COLUMNS: only the view of one job reads it, and as the row's last column a read of the head does not
    # load its overflow pages.
    [
        "ALTER TABLE jobs ADD COLUMN operations TEXT",
    ],
    # 7 -> 8: which run of the job this is (a job whose worker died may go back to the queue). ``operations``
    # is moved behind it, so that it stays the row's last column.
    [
        "ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE jobs RENAME COLUMN operations TO operations_before",
        "ALTER TABLE jobs ADD COLUMN operations TEXT",
        "UPDATE jobs SET operations = operations_before WHERE operations_before IS NOT NULL",
        "ALTER TABLE jobs DROP COLUMN operations_before",
    ],
    # 8 -> 9: retries and resuming (issue 21): how many runs the type allows, when a job waiting for its next
    # attempt is due, which job's saved values a job took over; and the values jobs save (JSON text, removed
    # with the job). ``operations`` is moved behind the new columns again, so that it stays the row's last.
    [
        "ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE jobs ADD COLUMN retry_at REAL",
        "ALTER TABLE jobs ADD COLUMN resumed_from TEXT",
        "ALTER TABLE jobs RENAME COLUMN operations TO operations_before",
        "ALTER TABLE jobs ADD COLUMN operations TEXT",
        "UPDATE jobs SET operations = operations_before WHERE operations_before IS NOT NULL",
        "ALTER TABLE jobs DROP COLUMN operations_before",
        """CREATE TABLE saved (
            job_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (job_id, key)
        ) WITHOUT ROWID""",
    ],
    # -> +1: schedules (issue 23): which schedule started a job and when it was due (also a one-off start's
    # ``run_at``); the schedules themselves, one row each, JSON text and a revision for compare-and-set.
    # ``operations`` is moved behind the new columns again, so that it stays the row's last.
    [
        "ALTER TABLE jobs ADD COLUMN schedule_id TEXT",
        "ALTER TABLE jobs ADD COLUMN run_at REAL",
        "ALTER TABLE jobs RENAME COLUMN operations TO operations_before",
        "ALTER TABLE jobs ADD COLUMN operations TEXT",
        "UPDATE jobs SET operations = operations_before WHERE operations_before IS NOT NULL",
        "ALTER TABLE jobs DROP COLUMN operations_before",
        "CREATE TABLE schedules (id TEXT PRIMARY KEY, rev INTEGER NOT NULL, data TEXT NOT NULL)",
    ],
    # -> +1: the registry of processes that run jobs (issue 22), one row each, its record as JSON text.
    [
        "CREATE TABLE workers (id TEXT PRIMARY KEY, last_seen REAL NOT NULL, data TEXT NOT NULL)",
    ],
    # -> +1: a failed job's signature (issue 22: GET /failures groups by it), with an index over failed jobs only
    # (covering the grouping: an index-only scan) whose order gives a group's newest ids off its end.
    # ``operations`` is moved behind it, so that it stays the row's last column.
    [
        "ALTER TABLE jobs ADD COLUMN signature TEXT",
        "ALTER TABLE jobs RENAME COLUMN operations TO operations_before",
        "ALTER TABLE jobs ADD COLUMN operations TEXT",
        "UPDATE jobs SET operations = operations_before WHERE operations_before IS NOT NULL",
        "ALTER TABLE jobs DROP COLUMN operations_before",
        "CREATE INDEX jobs_failed ON jobs(signature, end_time, id, job_type) WHERE status = 'failed'",
    ],
    # -> +1: what the job spent (issue 24): the totals as JSON text, written with the progress (the operation tree
    # carries them), and the shared limits' leases and rates (_sqlite_limits.py). ``operations`` is moved behind it
    # again, so that it stays the row's last.
    [
        """CREATE TABLE limit_slots (
            name TEXT NOT NULL,
            holder TEXT NOT NULL,
            waiting INTEGER NOT NULL,
            capacity INTEGER NOT NULL,
            job_id TEXT NOT NULL,
            expires REAL NOT NULL,
            PRIMARY KEY (name, holder)
        ) WITHOUT ROWID""",
        "CREATE TABLE limit_rates (name TEXT PRIMARY KEY, tat REAL NOT NULL, interval REAL NOT NULL) WITHOUT ROWID",
        "ALTER TABLE jobs ADD COLUMN usage TEXT",
        "ALTER TABLE jobs RENAME COLUMN operations TO operations_before",
        "ALTER TABLE jobs ADD COLUMN operations TEXT",
        "UPDATE jobs SET operations = operations_before WHERE operations_before IS NOT NULL",
        "ALTER TABLE jobs DROP COLUMN operations_before",
    ],
    # -> +1: jobs per (type, status, active or past), kept by triggers in the transaction of every statement that
    # inserts, moves or deletes a job row (issue 26): ``/stats``, ``/past/summary`` and the ``max_past_jobs`` check
    # run on every job end read a few rows instead of counting the whole history. Triggers rather than code in each
    # step, so that no way of writing a job (bulk deletes, recovery, retries, a step added later) can miss them.
    # A later step that rebuilds ``jobs`` (create, copy, rename) must create the triggers again.
    [
        """CREATE TABLE job_counts (
            job_type TEXT NOT NULL,
            status TEXT NOT NULL,
            past INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (job_type, status, past)
        ) WITHOUT ROWID""",
        "INSERT INTO job_counts (job_type, status, past, n) "
        "SELECT job_type, status, end_time IS NOT NULL, COUNT(*) FROM jobs GROUP BY 1, 2, 3",
        """CREATE TRIGGER jobs_counted_in AFTER INSERT ON jobs BEGIN
            INSERT INTO job_counts (job_type, status, past, n) VALUES (NEW.job_type, NEW.status,
                NEW.end_time IS NOT NULL, 1) ON CONFLICT (job_type, status, past) DO UPDATE SET n = n + 1;
        END""",
        """CREATE TRIGGER jobs_counted_out AFTER DELETE ON jobs BEGIN
            UPDATE job_counts SET n = n - 1
                WHERE job_type = OLD.job_type AND status = OLD.status AND past = (OLD.end_time IS NOT NULL);
        END""",
        """CREATE TRIGGER jobs_counted_moved AFTER UPDATE OF job_type, status, end_time ON jobs
        WHEN OLD.job_type IS NOT NEW.job_type OR OLD.status IS NOT NEW.status
            OR (OLD.end_time IS NULL) IS NOT (NEW.end_time IS NULL) BEGIN
            UPDATE job_counts SET n = n - 1
                WHERE job_type = OLD.job_type AND status = OLD.status AND past = (OLD.end_time IS NOT NULL);
            INSERT INTO job_counts (job_type, status, past, n) VALUES (NEW.job_type, NEW.status,
                NEW.end_time IS NOT NULL, 1) ON CONFLICT (job_type, status, past) DO UPDATE SET n = n + 1;
        END""",
    ],
    # -> +1: an index of the text a search matches (messages, and each job's author and params; _sqlite_words), so
    # that a search for a rare word reads what it finds instead of every job (issue 26).
    WORDS_STEP,
    # -> +1: the failure groups' rows kept per (signature, type) by triggers (count, first and last end), so that
    # GET /failures without a window reads a row per group instead of every failed job's index entry (issue 26).
    FAILURES_STEP,
    # -> +1: each job's saved values' total size in UTF-8 bytes (_sqlite_saved), kept by every save, so that a save
    # checks the bound by reading one row and the sizes of the keys it replaces, not every value the job saved; gone
    # with the job (a trigger, so that no way of deleting a job can miss it).
    [
        "CREATE TABLE saved_size (job_id TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO saved_size (job_id, bytes) SELECT job_id, SUM(LENGTH(CAST(value AS BLOB))) FROM saved "
        "GROUP BY job_id",
        """CREATE TRIGGER jobs_saved_size_out AFTER DELETE ON jobs BEGIN
            DELETE FROM saved_size WHERE job_id = OLD.id;
        END""",
    ],
]
LATEST_VERSION = len(STEPS)

HEAD_COLUMNS = ", ".join(HEAD_FIELDS)  # the jobs table's own column names are the head's fields


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file up to :data:`LATEST_VERSION`; returns the version it had."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > LATEST_VERSION:
            raise StoreError(
                f"SQLite store {path} has schema version {version} but this jobdeck knows only up to "
                f"{LATEST_VERSION}; it was written by a newer jobdeck: upgrade jobdeck or use another file")
        for step in STEPS[version:]:
            for statement in step:
                conn.execute(statement)
        if version != LATEST_VERSION:
            # PRAGMA takes no parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {LATEST_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return int(version)



def job_to_row(job: JobInfo) -> tuple[Any, ...]:
    """Values in :data:`HEAD_COLUMNS` order. Params and results are JSON text, never pickle."""
    op = job.current_operation
    return (
        job.id, job.job_type, job.author, job.status.value, job.progress, job.start_time, job.end_time,
        job.last_activity_time, dumps_text(job.params), dumps_text(job.result),
        dumps_text(op.to_dict()) if op else None,
        job.owner, job.heartbeat_time, job.abort_reason, job.abort_time, job.rerun_of, job.aborted_by,
        job.queued_time, job.attempt, job.max_attempts, job.retry_at, job.resumed_from, job.schedule_id, job.run_at,
        job.signature, job.usage.to_json() if job.usage is not None else None,
    )


def check_path(path: str | Path) -> Path:
    """The store file's path, or one clear StoreError for what cannot be one (a directory, a missing parent)."""
    if not isinstance(path, str | Path) or not str(path):
        raise StoreError(f"SQLite store path must be a file path, got {path!r}")
    p = Path(path).expanduser()
    if p.is_dir():
        raise StoreError(f"SQLite store path {p} is a directory; give a file in it, e.g. {p / 'jobs.db'}")
    parent = p.parent
    if not parent.is_dir():
        raise StoreError(f"cannot open SQLite store {p}: directory {parent} does not exist; create it first")
    return p


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in WAL mode with the schema brought up to date; one clear StoreError if that fails."""
    if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float) or busy_timeout < 0:
        raise InvalidArgumentError(f"busy_timeout must be a number of seconds >= 0, got {busy_timeout!r}")
    conn: sqlite3.Connection | None = None
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each step is exactly one transaction.
        conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL survives a crashed process (only a power cut may lose the last commits).
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, str(path))
        # A read-only file opens (and reads) fine and fails at the first write: find out now, with a no-op write.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE jobs SET id = id WHERE 0")
        finally:
            conn.execute("ROLLBACK")
    except StoreError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if "readonly" in str(exc):
            raise StoreError(f"SQLite store {path} is read-only: jobdeck must write to it (check the file's "
                             "permissions, owner and mount)") from None
        raise StoreError(f"cannot open SQLite store {path}: {exc} (is the directory writable and the file a "
                         "jobdeck database?)") from None
    return conn
