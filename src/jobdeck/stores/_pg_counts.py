"""How the PostgreSQL store knows how many jobs it holds per (type, status) without counting them (issue 26).

``stats()``, ``past_summary()`` (the dashboard's first paint) and the ``max_past_jobs`` check that runs in the
transaction of every job end used to count the jobs table: a pass over the whole history (``stats``: a sequential
scan; the eviction: a walk of ``max_past_jobs`` index entries on every end). Now:

- Triggers on ``jobs`` (added by :data:`SCHEMA_STEP`) append a change row, ``(type, status, past, +1 or -1)``, to
  ``job_count_changes`` for every job row inserted, deleted, or moved to another type, status or side (active or
  past), in the transaction of the statement that wrote the job -- so the counts are exact in every snapshot,
  whatever wrote the row (a bulk delete, recovery, a step added later). Writers only append: they touch no shared
  row, so two writers never wait for each other here (a counter row updated in place would put every writer of
  every job in one queue, as the event counter did).
- The counts are ``job_counts`` (what was folded) plus the sum of the change rows, read in one statement (one
  snapshot).
- Folding moves the change rows into ``job_counts`` in one statement: ``DELETE ... RETURNING`` summed and upserted
  in key order, under a transaction-level advisory lock tried without waiting (one folder at a time; the others
  leave it to that one). A change row of a transaction not yet committed is not seen, so it stays for the next fold.
  A store object folds after every :data:`FOLD_EVERY` job ends it wrote and after a bulk delete, and a read that
  summed more than :data:`FOLD_AT` change rows folds them: reads stay O(types x statuses + changes since the fold).
"""

from __future__ import annotations

__all__ = ["FOLD", "FOLD_AT", "FOLD_EVERY", "PAST_TOTAL", "SCHEMA_STEP", "STATS", "TEMPLATES"]

FOLD_EVERY = 200  # job ends through one store object between folds
FOLD_AT = 2_000  # change rows a read may sum before it folds them

_ALL = ("(SELECT job_type, status, past, n, 0 AS changes FROM {job_counts} "
        "UNION ALL SELECT job_type, status, past, n, 1 FROM {job_count_changes}) c")

# The rows of the schema step that adds the counts (their table and function names rendered per store).
SCHEMA_STEP = [
    """CREATE TABLE {job_counts} (
        job_type text NOT NULL,
        status text NOT NULL,
        past boolean NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (job_type, status, past)
    )""",
    """CREATE TABLE {job_count_changes} (
        job_type text NOT NULL,
        status text NOT NULL,
        past boolean NOT NULL,
        n integer NOT NULL
    )""",
    "INSERT INTO {job_counts} (job_type, status, past, n) "
    "SELECT job_type, status, end_time IS NOT NULL, count(*) FROM {jobs} GROUP BY 1, 2, 3",
    """CREATE FUNCTION {count_jobs}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO {job_count_changes} VALUES (OLD.job_type, OLD.status, OLD.end_time IS NOT NULL, -1);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO {job_count_changes} VALUES (NEW.job_type, NEW.status, NEW.end_time IS NOT NULL, 1);
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER {jobs_counted} AFTER INSERT OR DELETE ON {jobs} FOR EACH ROW EXECUTE FUNCTION {count_jobs}()",
    "CREATE TRIGGER {jobs_counted_moved} AFTER UPDATE OF job_type, status, end_time ON {jobs} FOR EACH ROW "
    "WHEN (OLD.job_type IS DISTINCT FROM NEW.job_type OR OLD.status IS DISTINCT FROM NEW.status "
    "OR (OLD.end_time IS NULL) <> (NEW.end_time IS NULL)) EXECUTE FUNCTION {count_jobs}()",
]

# Jobs per status (every status), and how many change rows were summed.
STATS = "SELECT status, sum(n), sum(changes) FROM " + _ALL + " GROUP BY status"  # noqa: S608 - constant
# Past jobs per type and status.
PAST = "SELECT job_type, status, sum(n), sum(changes) FROM " + _ALL + " WHERE past GROUP BY 1, 2"  # noqa: S608
# All past jobs, in the caller's transaction (the eviction after a job end: its own change row included).
PAST_TOTAL = "SELECT COALESCE(sum(n), 0) FROM " + _ALL + " WHERE past"  # noqa: S608 - constant
# One statement, so that it runs as one transaction in autocommit (the advisory lock is held until it ends).
FOLD = ("WITH go AS (SELECT pg_try_advisory_xact_lock(%(key)s) AS ok), "
        "moved AS (DELETE FROM {job_count_changes} WHERE (SELECT ok FROM go) RETURNING job_type, status, past, n) "
        "INSERT INTO {job_counts} AS k (job_type, status, past, n) SELECT job_type, status, past, sum(n) FROM moved "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (job_type, status, past) DO UPDATE SET n = k.n + EXCLUDED.n")

TEMPLATES = {"count_stats": STATS, "count_past": PAST, "count_past_total": PAST_TOTAL}
