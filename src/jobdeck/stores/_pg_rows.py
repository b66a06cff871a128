"""The PostgreSQL store's statements, and the steps that write many rows at once: a batch of buffered messages
and progress values, the event log, loading messages.

Every statement names its tables through ``{jobs}``-style placeholders, rendered once per store for its schema
and prefix (:class:`Statements`). Row locks are always taken in the same order -- the job type's advisory lock
(creating), then jobs rows (by id); the event counter only by readers numbering the queued events, in a
transaction of their own (:mod:`._pg_events`) -- so that writers queue instead of deadlocking;
the rare deadlock left (eviction meeting a batch) is retried by the pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg

from ..core.model import JobInfo, JobMessage, JobStatus, MessageType
from ._batch import plan_batch
from ._buffer import Write
from ._pg_counts import FOLD, PAST_TOTAL
from ._pg_counts import TEMPLATES as COUNT_TEMPLATES
from ._pg_events import QUEUE_EVENTS, SEQUENCE_LOCK, SEQUENCE_MOVE
from ._pg_schema import COLD, HEAD, Names
from ._pg_search import SEARCH_TEMPLATES

__all__ = ["Statements", "fill_messages", "jobs_per_trip", "load_messages", "log_events", "messages_args",
           "sequence_events", "write_batch"]

_LOCKED_ACTIVE = "WITH j AS (SELECT id FROM {jobs} WHERE id = %(id)s AND end_time IS NULL FOR SHARE) "

TEMPLATES = {
    "read": HEAD + " WHERE j.id = %s",
    "lock": HEAD + " WHERE j.id = %s FOR NO KEY UPDATE OF j",
    "status": "SELECT status FROM {jobs} WHERE id = %s",
    "active_of_type": "SELECT id FROM {jobs} WHERE end_time IS NULL AND job_type = %s ORDER BY start_time, seq",
    "type_lock": "SELECT pg_advisory_xact_lock(%s)",
    "insert_cold": "INSERT INTO {jobs} (id, " + ", ".join(COLD) + ") VALUES (%s" + ", %s" * len(COLD) + ")",
    "insert_hot": "INSERT INTO {hot} (id, progress, operation, last_activity, heartbeat_time) "
                  "VALUES (%s, %s, %s, %s, %s)",
    "update_cold": "UPDATE {jobs} SET " + ", ".join(f"{c} = %s" for c in COLD) + " WHERE id = %s",
    "update_hot": "UPDATE {hot} SET progress = %s, operation = %s, last_activity = %s, heartbeat_time = %s "
                  "WHERE id = %s",
    "progress": _LOCKED_ACTIVE + "UPDATE {hot} h SET progress = %(p)s, last_activity = %(t)s, "
                "operation = COALESCE(%(op)s, h.operation), operations = COALESCE(%(tree)s, h.operations), "
                "usage = COALESCE(%(usage)s, h.usage) FROM j WHERE h.id = j.id RETURNING h.operation",
    "operations": "SELECT operations FROM {hot} WHERE id = %s",
    "touch": _LOCKED_ACTIVE + "UPDATE {hot} h SET last_activity = %(t)s FROM j WHERE h.id = j.id RETURNING h.id",
    "insert_messages": "INSERT INTO {messages} (job_id, kind, text, ts) "
                       "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::float8[])",
    # Keeps the newest N of each (job, kind) touched: everything at or below the (N+1)-th newest goes. The cut
    # is found once per pair (one backward index scan), then the rows below it go.
    "cap": "DELETE FROM {messages} m USING (SELECT t.job_id, t.kind, (SELECT s.seq FROM {messages} s "
           "WHERE s.job_id = t.job_id AND s.kind = t.kind ORDER BY s.seq DESC OFFSET %(keep)s LIMIT 1) AS cut "
           "FROM unnest(%(jobs)s::text[], %(kinds)s::text[]) AS t(job_id, kind)) c "
           "WHERE m.job_id = c.job_id AND m.kind = c.kind AND m.seq <= c.cut",
    "batch_heads": "SELECT j.id, j.status, j.end_time, h.operation FROM {jobs} j JOIN {hot} h ON h.id = j.id "
                   "WHERE j.id = ANY(%s) ORDER BY j.id FOR SHARE OF j",
    "batch_activity": "UPDATE {hot} h SET last_activity = t.la, progress = COALESCE(t.p, h.progress), "
                      "operation = COALESCE(t.op, h.operation), operations = COALESCE(t.tree, h.operations), "
                      "usage = COALESCE(t.usage, h.usage) "
                      "FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::text[], %s::text[], %s::text[]) "
                      "AS t(id, la, p, op, tree, usage) WHERE h.id = t.id",
    # One row per job: the newest N (NULL: all) of each kind, read backwards from the index (costs what it
    # returns), put back in order and joined into one flat JSON array per kind, ``[text, time, text, time...]``:
    # the client reads one row per job instead of one per message and decodes each array with one orjson call
    # (flat: nested pairs would cost the client a small list per message, and the server a JSON value each).
    "messages": "SELECT j.id, " + ", ".join(
        "(SELECT '[' || string_agg(to_json(m.text)::text || ',' || to_json(m.ts)::text, ',' ORDER BY m.seq) || ']' "
        f"FROM (SELECT seq, text, ts FROM {{messages}} WHERE job_id = j.id AND kind = '{kind.value}' "
        "ORDER BY seq DESC LIMIT %(keep)s) m)" for kind in MessageType) + " FROM unnest(%(ids)s::text[]) AS j(id)",
    # In creation order, as the other stores list them (a claimed job's start_time moved on).
    "active": HEAD + " WHERE j.end_time IS NULL AND (%(type)s::text IS NULL OR j.job_type = %(type)s) "
                      "ORDER BY COALESCE(j.queued_time, j.start_time), j.seq",
    "past": HEAD + " WHERE j.end_time IS NOT NULL AND (%(types)s::text[] IS NULL OR j.job_type = ANY(%(types)s)) "
                    "AND (%(statuses)s::text[] IS NULL OR j.status = ANY(%(statuses)s)) "
                    "AND (%(after)s::float8 IS NULL OR j.end_time > %(after)s) "
                    "AND (%(b_end)s::float8 IS NULL OR (j.end_time, j.id) < (%(b_end)s, %(b_id)s::text)) "
                    "ORDER BY j.end_time DESC, j.id DESC LIMIT %(limit)s",
    "find_ids": "SELECT id FROM {jobs} WHERE id LIKE %s ORDER BY id LIMIT %s",
    # Past jobs beyond max_past_jobs or older than max_past_age. Only the victims are locked (a locking clause
    # next to OFFSET would lock every job it skips); one locked by a batch is left for the next eviction.
    # How many are beyond comes from the kept counts (_pg_counts: this transaction's own end included), so that
    # only the oldest few are read (OFFSET max_past_jobs walked the whole history on every job end).
    "evict": "WITH victims AS (DELETE FROM {jobs} WHERE id IN (SELECT id FROM {jobs} WHERE id IN ((SELECT id "
             "FROM {jobs} WHERE end_time IS NOT NULL ORDER BY end_time, id LIMIT GREATEST(0, (" + PAST_TOTAL
             + ") - %(keep)s)) UNION ALL (SELECT id FROM {jobs} WHERE end_time IS NOT NULL AND end_time < "
             "%(cutoff)s::float8)) FOR UPDATE SKIP LOCKED) RETURNING id) "
             "DELETE FROM {messages} WHERE job_id IN (SELECT id FROM victims)",
    "delete_past": "DELETE FROM {jobs} WHERE end_time IS NOT NULL AND (%(type)s::text IS NULL OR job_type = "
                   "%(type)s) RETURNING id, end_time",
    # A statement of its own after the jobs went: its snapshot sees messages a batch committed meanwhile.
    "delete_messages": "DELETE FROM {messages} WHERE job_id = ANY(%s)",
    "claim": "WITH gone AS (DELETE FROM {claims} WHERE at < %(before)s) INSERT INTO {claims} (name, holder, at) "
             "VALUES (%(name)s, %(holder)s, %(at)s) ON CONFLICT (name) DO NOTHING RETURNING name",
    "newest_event": "SELECT last_id FROM {event_seq}",
    "events": "SELECT c.last_id, c.first_id, e.id, e.type, e.job_id, e.data FROM {event_seq} c "
              "LEFT JOIN LATERAL (SELECT id, type, job_id, data FROM {events} WHERE id > %(after)s ORDER BY id "
              "LIMIT %(limit)s) e ON true ORDER BY e.id",
    # Writers queue their events; readers number them on the counter row before reading (_pg_events).
    "log_events": QUEUE_EVENTS,
    "sequence_lock": SEQUENCE_LOCK,
    "sequence_move": SEQUENCE_MOVE,
    # The two tables rewritten all the time. A HOT update that finds its page full (an open snapshot still sees
    # the old versions) moves the row to a new page; vacuum makes the old one reusable. Autovacuum does it too,
    # where it runs and notices: this keeps the size constant without relying on it.
    "vacuum": "VACUUM (SKIP_LOCKED) {hot}, {event_seq}, {event_queue}",
    # The tables that grow with the history, for the planner (a sample of rows: tens of ms at 100,000 jobs).
    "analyze": "ANALYZE (SKIP_LOCKED) {jobs}, {past_texts}",
    "count_rows": "SELECT (SELECT count(*) FROM {jobs}), (SELECT count(*) FROM {hot}), "
                  "(SELECT count(*) FROM {messages}), (SELECT count(*) FROM {events})",
    # Saved values (issue 21). A save locks the job row as a state change does, so that saves of one job are
    # checked against the bound one after another and none lands after the job ended.
    "saved_lock": "SELECT end_time IS NOT NULL FROM {jobs} WHERE id = %s FOR NO KEY UPDATE",
    # The kept total less what the incoming keys replace: a save reads its own keys, not every value the job saved.
    # A statement of its own after the lock, so that its snapshot sees the save that held the lock before.
    "saved_kept": "SELECT COALESCE((SELECT bytes FROM {saved_size} WHERE job_id = %(job)s), 0) - COALESCE((SELECT "
                  "sum(octet_length(value)) FROM {saved} WHERE job_id = %(job)s AND key = ANY(%(keys)s::text[])), 0)",
    "saved_size_put": "INSERT INTO {saved_size} (job_id, bytes) VALUES (%s, %s) "
                      "ON CONFLICT (job_id) DO UPDATE SET bytes = EXCLUDED.bytes",
    "saved_put": "INSERT INTO {saved} (job_id, key, value) SELECT %s, * FROM unnest(%s::text[], %s::text[]) "
                 "ON CONFLICT (job_id, key) DO UPDATE SET value = EXCLUDED.value",
    "saved_read": "SELECT k.key, k.value FROM {jobs} j LEFT JOIN {saved} k ON k.job_id = j.id WHERE j.id = %s",
    "saved_keys": "SELECT k.key FROM {jobs} j LEFT JOIN {saved} k ON k.job_id = j.id WHERE j.id = %s",
}

_KIND_ORDER = tuple(MessageType)  # the order of the ``messages`` statement's columns
# Bounds on one ``messages`` statement's answer (the jobs it reads at once, and their messages about at most).
JOBS_PER_TRIP = 200
MESSAGES_PER_TRIP = 12_000
Event = tuple[str, str, str]  # job id, event type, data as JSON text


class Statements:
    """:data:`TEMPLATES` and the search statements rendered for one schema and prefix (bytes: ready to execute,
    never re-parsed)."""

    def __init__(self, names: Names, max_events: int) -> None:
        self.names = names
        self.max_events = max_events
        self.channel = names.channel
        for key, template in {**TEMPLATES, **SEARCH_TEMPLATES, **COUNT_TEMPLATES}.items():
            setattr(self, key, names.render(template))
        # Run by the pool's maintenance (autocommit, no arguments): the lock key written in.
        self.count_fold = names.render(FOLD.replace("%(key)s", str(int(names.counts_key))))

    def __getattr__(self, key: str) -> bytes:  # for the type checker: every template is an attribute
        raise AttributeError(key)


def log_events(conn: psycopg.Connection[Any], q: Statements, events: Sequence[Event]) -> None:
    """Queue events in the caller's transaction and NOTIFY listeners (on commit); readers number them
    (:func:`sequence_events`)."""
    if not events:
        return
    jobs, types, data = zip(*events, strict=True)
    conn.execute(q.log_events, {"jobs": list(jobs), "types": list(types), "data": list(data), "channel": q.channel})


def sequence_events(conn: psycopg.Connection[Any], q: Statements) -> int:
    """Number the queued events into the log (see :mod:`._pg_events`) in the caller's transaction; how many."""
    if conn.execute(q.sequence_lock).fetchone() is None:
        return 0  # nothing queued: nothing locked
    # The planner cannot know that its CTEs hold one row (the counter) and a few (the queue): its estimates are
    # big enough to JIT-compile the statement, which took 1-2 s instead of a millisecond.
    conn.execute(b"SET LOCAL jit = off")
    row = conn.execute(q.sequence_move, {"keep": q.max_events}).fetchone()
    return int(row[0]) if row else 0


def write_batch(conn: psycopg.Connection[Any], q: Statements, writes: Sequence[Write],
                max_messages: int) -> dict[str, JobStatus | None]:
    """Write buffered messages and progress values of active jobs in the caller's transaction; returns the jobs
    whose writes were dropped (their status, or None when the job no longer exists)."""
    ids = sorted({job_id for job_id, _ in writes})
    heads = {row[0]: row[1:] for row in conn.execute(q.batch_heads, (ids,))}
    batch = plan_batch(writes, heads, max_messages)
    if batch.messages:
        conn.execute(q.insert_messages, [list(column) for column in zip(*batch.messages, strict=True)])
        pairs = sorted({(m[0], m[1]) for m in batch.messages})
        conn.execute(q.cap, {"jobs": [p[0] for p in pairs], "kinds": [p[1] for p in pairs], "keep": max_messages})
    if batch.activity:
        touched = batch.activity.values()
        conn.execute(q.batch_activity, (list(batch.activity), [a.time for a in touched], [a.progress for a in touched],
                                        [a.operation for a in touched], [a.tree for a in touched],
                                        [a.usage for a in touched]))
    log_events(conn, q, batch.events)
    return batch.refused


def messages_args(ids: list[str], keep: int | None) -> dict[str, Any]:
    """Arguments of the ``messages`` statement: these jobs' newest ``keep`` of each kind (None: all)."""
    return {"ids": ids, "keep": keep}


def jobs_per_trip(keep: int | None, max_messages: int) -> int:
    """How many jobs one ``messages`` statement reads, so that its answer stays about
    :data:`MESSAGES_PER_TRIP` messages whatever the page size (``keep`` None: all, at most the cap)."""
    per_kind = max_messages if keep is None else min(keep, max_messages)
    return max(1, min(JOBS_PER_TRIP, MESSAGES_PER_TRIP // max(1, len(_KIND_ORDER) * per_kind)))


def load_messages(conn: psycopg.Connection[Any], q: Statements, jobs: Sequence[JobInfo], keep: int | None,
                  max_messages: int) -> None:
    """Fill the jobs' message lists, oldest first per kind: one statement per group of jobs, each answer
    bounded (see :func:`jobs_per_trip`), all in the caller's transaction (one snapshot)."""
    size = jobs_per_trip(keep, max_messages)
    for i in range(0, len(jobs), size):
        group = jobs[i:i + size]
        # fetchall: iterating a cursor costs per row
        fill_messages(conn.execute(q.messages, messages_args([job.id for job in group], keep)).fetchall(), group)


def fill_messages(rows: Iterable[tuple[Any, ...]], jobs: Sequence[JobInfo]) -> None:
    """Fill the jobs' message lists from rows of the ``messages`` statement: a job id, then per kind one flat JSON
    array of texts and times, oldest first (NULL when the job has none of that kind)."""
    by_id = {job.id: job for job in jobs}
    for job_id, *arrays in rows:
        job = by_id[job_id]
        for kind, array in zip(_KIND_ORDER, arrays, strict=True):
            if array is not None:
                flat = iter(orjson.loads(array))
                pairs = zip(flat, flat, strict=True)
                # float(): PostgreSQL writes a whole float8 without a fraction, which JSON reads as an int
                job.messages(kind).extend([JobMessage(kind, text, float(ts)) for text, ts in pairs])
