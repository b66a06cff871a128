"""How the PostgreSQL store numbers its events without making writers wait for one another, and what the readers
of its change log rely on.

What the readers rely on (``read_events`` / ``wait_events``: the SSE multiplexer behind ``/events`` and its
``Last-Event-ID`` replay, the webhook notifier, the answer cache's version, the listener's wake-ups, a client
resuming with a cursor):

1. **A cursor never skips an event.** A reader that read up to id N and later asks for "after N" gets every
   event it has not seen: no event can appear later with an id at or below one already handed out.
2. **One order for everyone.** Every reader sees the events in the same order (by id), so a replay from the
   log and the live stream agree, and an SSE id names one position in that order.
3. **Causal order.** If a write committed before another one started, its events come first: a job's events
   come in the order of its calls (its writes are one after another: the buffers flush before a status change,
   a progress write flushes the messages queued before it), and a change another process makes after reading a
   job comes after what it read.
4. **Read-your-writes.** A read of the log includes every event committed before the read started, whichever
   process committed it (tests, the dashboard after an action, a process reading back its own events).
5. **Bounded log.** The newest ``max_events`` events are kept; a cursor older than the oldest kept one gets
   ``reset`` (reload state), as does one this store never handed out.

Up to schema version 6 one counter row handed out the ids inside every writing transaction: 1-5 held because
that row's lock made every writer of every job in every process queue until the holder committed (its WAL flush
included), one transaction at a time. Now writers and the numbering are apart:

- A writing transaction appends its events to ``event_queue`` (a ``bigserial`` key, which records the order in
  which they were appended) and NOTIFYs; it touches no shared row, so writers of different jobs never wait for
  one another.
- Before a read, the reader **sequences**: in a short transaction of its own it locks the counter row (only
  sequencers take it; a reader finding the queue empty skips the lock), moves every queued event it can see --
  all that were committed before its statement began -- into ``events``, numbered on from the counter in queue
  order, and trims the log to ``max_events``. Sequencers run one at a time, so ids are committed in order
  (1, 5), every reader reads the same numbered log (2), and a read sequences what was committed before it (4).
  Events of a transaction that committed before another one began are visible to any sequencer that sees the
  later one's, and were queued earlier, so they get lower ids (3).
- The numbering commits without waiting for the WAL flush, as the store's progress and message writes do: a
  server crash may lose the last numbering; the events then stay queued (their writers' commits decide that)
  and are numbered again after the restart -- possibly with numbers a client saw before the crash, as could
  happen before with the writers' own non-durable commits.
- A process of an older jobdeck (schema version 6) still writes ids with the counter row directly; its events
  and the sequenced ones share the counter, so the two can run side by side during an upgrade.

The price: one short transaction per read that finds events queued (a few rows moved; none when the queue is
empty), instead of a lock every writer waited on. Ids, cursors and the ``events`` table are as before.
"""

from __future__ import annotations

__all__ = ["QUEUE_EVENTS", "SEQUENCE_LOCK", "SEQUENCE_MOVE"]

# A writer's append (with its NOTIFY, delivered on commit).
QUEUE_EVENTS = ("WITH q AS (INSERT INTO {event_queue} (job_id, type, data) SELECT * FROM unnest(%(jobs)b::text[], "
                "%(types)b::text[], %(data)b::text[])) SELECT pg_notify(%(channel)s, '')")
# A sequencer's first statement: the counter row, locked -- unless nothing is queued (then nothing is locked and
# the move below moves nothing). The move is a statement of its own, so that its snapshot is taken after the lock
# was granted: it sees every event committed by the sequencer before it.
SEQUENCE_LOCK = "SELECT last_id FROM {event_seq} WHERE EXISTS (SELECT 1 FROM {event_queue}) FOR UPDATE"
# Moves the queued events into the log, numbered in queue order; an event that the trim would drop at once is
# not inserted (a statement does not see its own inserts); trims what the new ids pushed out of the window.
SEQUENCE_MOVE = (
    "WITH moved AS (DELETE FROM {event_queue} RETURNING seq, job_id, type, data), "
    "c AS (SELECT last_id, first_id FROM {event_seq}), n AS (SELECT count(*) AS n FROM moved), "
    "w AS (SELECT c.last_id + n.n AS last_id, GREATEST(c.first_id, c.last_id + n.n - %(keep)s + 1) AS first_id "
    "FROM c, n), "
    "numbered AS (SELECT c.last_id + row_number() OVER (ORDER BY m.seq) AS id, m.job_id, m.type, m.data "
    "FROM c, moved m), "
    "ins AS (INSERT INTO {events} (id, job_id, type, data) SELECT x.id, x.job_id, x.type, x.data FROM numbered x, "
    "w WHERE x.id >= w.first_id), "
    "upd AS (UPDATE {event_seq} s SET last_id = w.last_id, first_id = w.first_id FROM w, n WHERE n.n > 0), "
    "gone AS (DELETE FROM {events} WHERE id >= (SELECT first_id FROM c) AND id < (SELECT first_id FROM w)) "
    "SELECT n FROM n")
