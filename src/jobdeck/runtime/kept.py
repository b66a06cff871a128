"""The work a job keeps for its later attempts and for a job that resumes it: what the controller's ``save``,
``saved`` and ``is_done`` read and write.

    kept = KeptWork(job_id, store, contact)
    kept.save("answer:q18", {...})          # written through at once
    kept.saved("answer:q18")                # read from the store once per run, then from memory
    kept.is_done("questions/q18")           # reached 1 in an earlier attempt (or this run)

Saved values live in the store with the job (:meth:`Store.save_value <jobdeck.Store.save_value>`, bounded by the
store's ``max_saved_bytes``). An operation that reaches 1 is remembered under the key ``jobdeck.done:<path>``, once
per path, so that a later attempt's pipeline marks it done as soon as it is declared (:meth:`KeptWork.mark`) and
its progress starts from there. Done marks are written in batches, at most every :data:`MARK_INTERVAL` seconds and
before the run's outcome (:meth:`KeptWork.flush`): one durable write per operation cost a job splitting its work in
thousands of parts 20-30 times its progress calls (150-270 us against 7-9 us per finished part, memory and SQLite),
and a process killed outright loses at most the marks of its last fraction of a second (those operations run again).
A value the handler saves is written at once and never skipped: a later attempt would skip the work whose result
is missing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..core.backoff import Backoff
from ..core.errors import InvalidArgumentError, StoreError
from ..core.pipeline import PipelineTree
from ..stores.base import Store

__all__ = ["DONE_PREFIX", "RESERVED_PREFIX", "KeptWork"]

logger = logging.getLogger("jobdeck")

#: The saved key that remembers an operation (path) as done.
DONE_PREFIX = "jobdeck.done:"
#: jobdeck's own saved keys start with this; a handler's may not.
RESERVED_PREFIX = "jobdeck."
#: Seconds between two writes of done marks while a run goes on.
MARK_INTERVAL = 0.2


class Contact(Protocol):
    """When the store last answered for the job (the controller's :class:`~jobdeck.runtime.controller.StoreContact`)."""

    def seen(self) -> None: ...

    def away(self) -> float: ...


class KeptWork:
    """One run's view of a job's saved values and done operations. Thread-safe."""

    def __init__(self, job_id: str, store: Store, contact: Contact) -> None:
        self.job_id, self.store, self.contact = job_id, store, contact
        self._lock = threading.Lock()
        self._values: dict[str, Any] | None = None  # read once on first use, then kept in step with writes
        self._done_before: frozenset[str] = frozenset()  # paths an earlier run finished
        self._done_now: set[str] = set()  # paths this run finished
        self._pending: dict[str, bool] = {}  # their marks not written yet
        self._mark_due = 0.0  # monotonic time of the next batch of marks

    def values(self) -> dict[str, Any]:
        """The job's saved values (jobdeck's own keys included), read from the store on the first call."""
        values = self._values
        if values is None:
            read = self._patiently("reading the saved values", self.store.saved_values, self.job_id)
            with self._lock:
                if self._values is None:
                    self._values = read
                    self._done_before = frozenset(k[len(DONE_PREFIX):] for k, v in read.items()
                                                  if k.startswith(DONE_PREFIX) and v is True)
                values = self._values
        return values

    def earlier_done(self) -> frozenset[str]:
        """The operation paths an earlier attempt (or the job this one resumes) finished."""
        self.values()
        return self._done_before

    def save(self, key: str, value: Any) -> None:
        if isinstance(key, str) and key.startswith(RESERVED_PREFIX):
            raise InvalidArgumentError(f"saved key {key!r} starts with {RESERVED_PREFIX!r}, which jobdeck keeps for "
                                       "its own keys; choose another name", "key")
        values = self.values()
        self._patiently(f"saving {key!r}", self.store.save_value, self.job_id, key, value)
        with self._lock:
            values[key] = value

    def saved(self, key: str, default: Any = None) -> Any:
        return self.values().get(key, default)

    def is_done(self, operation: str) -> bool:
        if not isinstance(operation, str) or not operation.strip("/"):
            raise InvalidArgumentError(f"operation must be an operation id or a path 'op/sub', got {operation!r}",
                                       "operation")
        path = operation.strip("/")
        return path in self.earlier_done() or path in self._done_now

    def mark(self, tree: PipelineTree, under: str) -> None:
        """Set the operations one level below ``under`` (``""``: the top level, ``"op/"``: op's parts) that an
        earlier run finished to 1, so that this run's progress starts from there. Paths the tree no longer has
        (renamed or dropped since) are left alone. Call :meth:`earlier_done` first (it may wait for the store)."""
        depth = under.count("/") + 1
        for path in sorted(p for p in self._done_before if p.startswith(under) and p.count("/") + 1 == depth):
            try:
                tree.set(path, 1.0)
            except InvalidArgumentError:
                continue
        tree.take_finished()  # known to be done already: nothing to mark again

    def remember(self, tree: PipelineTree, away: Callable[[StoreError, str], None]) -> None:
        """Note the operations of ``tree`` that reached 1 since the last call as done, once per path, and write the
        marks when a batch is due. The caller serialises the calls (the controller's lock)."""
        for path in tree.take_finished():
            if path not in self._done_now and path not in self._done_before:
                self._done_now.add(path)
                self._pending[DONE_PREFIX + path] = True
        if self._pending and time.monotonic() >= self._mark_due:
            self.flush(away)

    def flush(self, away: Callable[[StoreError, str], None]) -> None:
        """Write the done marks noted since the last batch. A store away is ``away``'s to judge (the controller
        goes on within the stale window; the marks wait for the next batch); saved values that are full lose the
        marks (logged), never the job."""
        pending, self._pending = self._pending, {}
        self._mark_due = time.monotonic() + MARK_INTERVAL
        if not pending:
            return
        try:
            self.store.save_values(self.job_id, pending)
        except StoreError as exc:
            self._pending = {**pending, **self._pending}
            away(exc, "the done marks")
            return
        except InvalidArgumentError as exc:
            logger.warning("job %s: %d operation(s) not remembered as done: %s", self.job_id, len(pending), exc)
            return
        with self._lock:
            if self._values is not None:
                self._values.update(pending)

    def _patiently(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, retried while the store is away for less than its ``stale_after`` (then StoreError)."""
        backoff = Backoff(first=0.05, maximum=2.0)
        while True:
            try:
                result = fn(*args)
            except StoreError as exc:
                if self.contact.away() + backoff.first > self.store.stale_after:
                    raise
                if backoff.failures == 0:
                    logger.warning("job %s: %s failed, retrying while the store is away: %s", self.job_id, what, exc)
                time.sleep(backoff.next())
                continue
            self.contact.seen()
            return result
