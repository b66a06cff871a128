"""How the PostgreSQL store numbers its events so that no writer waits for another, and what readers may rely on.

What the readers of the change log rely on (``read_events`` / ``wait_events``: the SSE multiplexer behind
``/events`` and its ``Last-Event-ID`` replay, the webhook notifier, the answer cache's version, the listener's
wake-ups, a client resuming with a cursor):

1. **A cursor never skips an event.** A reader that read up to id N and later asks for "after N" gets every
   event it has not seen: no event can appear later with an id at or below one already handed out.
2. **One order for everyone.** Every reader sees the events in the same order (by id), so a replay from the
   log and the live stream agree, and an SSE id names one position in that order.
3. **Causal order.** If a write committed before another one started writing, its events come first: a job's
   events come in the order of its calls (its writes are one after another: the buffers flush before a status
   change, a batch locks the job's row, a progress write flushes the messages queued before it), and a status
   change another process makes after reading a job comes after what it read.
4. **Bounded log.** About the newest ``max_events`` events are kept; a cursor older than the oldest kept one
   gets ``reset`` (reload state), as does one this store never handed out.

Until now one counter row handed out the ids inside every writing transaction, which gave 1-4 by making every
writer of every job in every process queue on that row's lock until its commit (its WAL flush included): one
transaction at a time. Now:

- An event's id is its transaction's id (``pg_current_xact_id()``, 64 bits, never wraps) plus ``OFFSET``,
  shifted left by ``SHIFT`` bits, plus its place in the transaction (``PER_TRANSACTION`` places; a transaction
  that logs twice numbers on from its own last id). Writers touch no shared row.
- A reader reads only ids below the **horizon**: the oldest transaction still running when its snapshot was
  taken (``pg_snapshot_xmin``), shifted the same way. Every transaction below it has ended, so what the reader
  sees there is final: nothing can still commit below the horizon (1), and everyone sees the same ids in the
  same order (2). A transaction gets its id when it first writes (here: when it locks or inserts a job row),
  which is after every transaction it waited for or followed has ended, so its ids are above theirs (3).
- Ids of the counter era (small integers) stay below every new one, since each transaction then logged far
  fewer than ``PER_TRANSACTION`` events and consumed one transaction id: old cursors keep working. The counter
  row remembers the last of them and the first id of the new era (schema step 7): a cursor between the two was
  never handed out, and gets ``reset``.
- The log is trimmed by a writer now and then (every ``max_events // 8`` events it logged, at least every
  event), taking the counter row's lock with ``SKIP LOCKED`` (another trimmer is never waited for), which also
  records the oldest id kept for (4).

The price: an event reaches readers once every transaction older than its own has ended -- jobdeck's take
milliseconds, but any long writing transaction on the same PostgreSQL server (another application's migration,
a session left idle in a transaction after writing) holds the live events back until it ends (the writes
themselves go on). So that a store object reads back the events it committed (read-your-writes, which tests
and the dashboard rely on), its reads wait for them to pass the horizon (:class:`OwnEvents`), reading again
every ``HELD_BACK_POLL`` for up to ``HELD_BACK_WAIT``; a waiter (``wait_events``) that found events held back
reads again that often instead of waiting for the next NOTIFY. A cursor is an integer, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.events import EventBatch, EventType, JobEvent
from ..core.jsoncodec import loads_event_data

__all__ = ["HELD_BACK_POLL", "HELD_BACK_WAIT", "HORIZON", "ID_BASE", "OFFSET", "PER_TRANSACTION", "SHIFT",
           "OwnEvents", "event_batch", "read_batch", "read_head"]

SHIFT = 20
PER_TRANSACTION = 1 << SHIFT  # places for one transaction's events (a million)
OFFSET = 1 << 10  # added to the transaction id (new ids start above 2**30; schema step 7 uses the same)
HELD_BACK_POLL = 0.002
HELD_BACK_WAIT = 0.1
# The first id of this transaction's block (assigns the transaction its id if it has none yet).
ID_BASE = f"((pg_current_xact_id()::text::bigint + {OFFSET}) << {SHIFT})"
# A CTE ``h(horizon)``: ids below it are final (every transaction that could write them has ended).
HORIZON = f"h AS (SELECT ((pg_snapshot_xmin(pg_current_snapshot())::text::bigint + {OFFSET}) << {SHIFT}) AS horizon)"


class OwnEvents:
    """Where the events a store object committed last are (the first id of their transaction's block), so that
    its reads wait for them to pass the horizon: a process reads back what it wrote."""

    def __init__(self) -> None:
        self.last = 0
        self._local = threading.local()

    def logged(self, borrowed: Any) -> list[Any] | None:
        """The list ``log_events`` puts its cursor in (None in a caller's own transaction: it commits later)."""
        if getattr(borrowed, "conn", None) is not None:
            return None
        cursors: list[Any] | None = getattr(self._local, "cursors", None)
        if cursors is None:
            cursors = self._local.cursors = []
        return cursors

    def committed(self) -> None:
        """After this thread's commit: learn where its events went."""
        cursors: list[Any] = getattr(self._local, "cursors", [])
        while cursors:
            try:
                row = cursors.pop().fetchone()
            except Exception:  # a rolled-back attempt's statement (retried): it logged nothing
                row = None
            if row is not None and row[1] is not None:
                self.last = max(self.last, int(row[1]))


def _wait_for_own(read: Callable[[], tuple[Any, int]], own: int) -> Any:
    """``read()`` -> (answer, horizon - 1), again every ``HELD_BACK_POLL`` for up to ``HELD_BACK_WAIT`` while this
    store object's last events (at ``own``) are not below the horizon yet."""
    deadline = time.monotonic() + HELD_BACK_WAIT
    while True:
        answer, newest = read()
        if newest >= own or time.monotonic() > deadline:
            return answer
        time.sleep(HELD_BACK_POLL)


def read_head(query: Callable[[], list[tuple[Any, ...]]], own: int) -> int:
    """The cursor of now (the newest event below the horizon), with this store object's own events in it."""
    def read() -> tuple[int, int]:
        ((head, newest),) = query()
        return int(head), int(newest)
    result: int = _wait_for_own(read, own)
    return result


def read_batch(query: Callable[[dict[str, Any]], list[tuple[Any, ...]]], after: str, limit: int, own: int,
               ) -> tuple[EventBatch, bool]:
    """Up to ``limit`` events after the cursor ``after``, read with ``query`` (the ``events`` statement), with
    this store object's own events in them (see :class:`OwnEvents`); and whether events are held back."""
    try:
        cursor = int(after)
    except ValueError:
        cursor = -1  # no cursor of this store

    def read() -> tuple[tuple[EventBatch, bool], int]:
        rows = query({"after": max(cursor, 0), "limit": limit})
        return event_batch(rows, after, cursor), int(rows[0][0])
    result: tuple[EventBatch, bool] = _wait_for_own(read, own)
    return result


def event_batch(rows: list[tuple[Any, ...]], after: str, cursor: int) -> tuple[EventBatch, bool]:
    """The batch the ``events`` statement's rows make (the events after ``cursor``, read below the horizon), and
    whether committed events wait past the horizon (read again soon: no NOTIFY will tell when they are free)."""
    newest, head, oldest, held, counter_last, era_start = rows[0][:6]
    if cursor < 0 or cursor > newest or cursor < oldest - 1 or counter_last < cursor < era_start - 1:
        # Not a cursor of this store (another database, a recreated schema) or older than the bounded log.
        return EventBatch([], str(head), reset=True), bool(held)
    events = [JobEvent(str(i), EventType(t), j, loads_event_data(d)) for *_, i, t, j, d in rows if i is not None]
    return EventBatch(events, events[-1].id if events else after), bool(held)
