"""The SQLite store's failure groups kept as they change (issue 26): one row per (signature, job type) of failed
past jobs -- how many, when the first and the last of them ended -- kept by triggers on the jobs table in the
writing transaction, so that ``GET /failures`` without ``since`` reads a row per group instead of one
``GROUP BY`` over every failed job's index entry (O(failed jobs): 4.9 ms at 100,000 jobs). With ``since`` the
window is counted from the ``jobs_failed`` index as before (:mod:`._sql_failures`).

A job counts while it is ``failed``, has a signature and has ended. When one stops counting (evicted, deleted,
moved), its row's count drops and its first and last ends are read again along the ``jobs_failed`` index
(``signature, end_time, id, job_type``): from either end of the signature's entries to the first of the type.
"""

from __future__ import annotations

__all__ = ["ROWS", "SCHEMA_STEP"]

_COUNTED = "{0}.status = 'failed' AND {0}.signature IS NOT NULL AND {0}.end_time IS NOT NULL"
_IN = _COUNTED.format("NEW")
_OUT = _COUNTED.format("OLD")
_ADD = ("INSERT INTO failure_counts (signature, job_type, n, first_end, last_end) VALUES (NEW.signature, "
        "NEW.job_type, 1, NEW.end_time, NEW.end_time) ON CONFLICT (signature, job_type) DO UPDATE SET n = n + 1, "
        "first_end = MIN(first_end, excluded.first_end), last_end = MAX(last_end, excluded.last_end);")
# Along the index from one end of the signature's entries to the first of the type (not a MIN over all of them).
_ENDS = ("(SELECT end_time FROM jobs WHERE status = 'failed' AND signature = OLD.signature "
         "AND job_type = OLD.job_type AND end_time IS NOT NULL ORDER BY end_time {order} LIMIT 1)")
_REMOVE = ("UPDATE failure_counts SET n = n - 1, first_end = " + _ENDS.format(order="ASC") + ", last_end = "  # noqa: S608
           + _ENDS.format(order="DESC") + " WHERE signature = OLD.signature AND job_type = OLD.job_type; "
           "DELETE FROM failure_counts WHERE signature = OLD.signature AND job_type = OLD.job_type AND n <= 0;")

SCHEMA_STEP = [
    """CREATE TABLE failure_counts (
        signature TEXT NOT NULL,
        job_type TEXT NOT NULL,
        n INTEGER NOT NULL,
        first_end REAL,
        last_end REAL,
        PRIMARY KEY (signature, job_type)
    ) WITHOUT ROWID""",
    "INSERT INTO failure_counts (signature, job_type, n, first_end, last_end) SELECT signature, job_type, COUNT(*), "  # noqa: S608
    "MIN(end_time), MAX(end_time) FROM jobs WHERE " + _COUNTED.format("jobs") + " GROUP BY signature, job_type",
    f"CREATE TRIGGER failures_counted_in AFTER INSERT ON jobs WHEN {_IN} BEGIN {_ADD} END",
    f"CREATE TRIGGER failures_counted_out AFTER DELETE ON jobs WHEN {_OUT} BEGIN {_REMOVE} END",
    # A move out, then in: the row of the job as it was, then as it is (the same row when only the end moved).
    f"CREATE TRIGGER failures_moved_out AFTER UPDATE OF status, signature, job_type, end_time ON jobs "
    f"WHEN {_OUT} AND NOT ({_IN} AND OLD.signature = NEW.signature AND OLD.job_type = NEW.job_type "
    f"AND OLD.end_time = NEW.end_time) BEGIN {_REMOVE} END",
    f"CREATE TRIGGER failures_moved_in AFTER UPDATE OF status, signature, job_type, end_time ON jobs "
    f"WHEN {_IN} AND NOT ({_OUT} AND OLD.signature = NEW.signature AND OLD.job_type = NEW.job_type "
    f"AND OLD.end_time = NEW.end_time) BEGIN {_ADD} END",
]

# The kept rows in the shape of _sql_failures.ROWS (signature, job type, count, first end, last end).
ROWS = ("SELECT signature, job_type, n, first_end, last_end FROM failure_counts WHERE n > 0 "
        "AND (:type IS NULL OR job_type = :type)")
