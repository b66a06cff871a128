"""Coalesced progress writes and a small status cache, shared by the buffered stores (SQLite, Redis, PostgreSQL).

Job code may call ``progress()`` thousands of times a second; a store that writes to a file or a server cannot
follow that, and nobody can watch it anyway. :class:`ProgressBuffer` writes the first value at once and then at
most one value per job per ``interval``: later values wait in memory and a background thread writes the newest
one when the interval is over, so another process sees it within ``interval`` plus one write. Status changes
never wait: the store flushes a job's pending progress before them (:meth:`ProgressBuffer.flush`), and a message
takes the pending value with it into the message queue (:meth:`ProgressBuffer.take`), so the order of what
readers see is the order of the calls. This buffer never starts a write of a job while another of its writes of
that job is in flight (a write waits for the one before it to land, and the background thread leaves such a job
for later): a store that numbers its events when they commit (PostgreSQL's event queue) would otherwise number
the older value after the newer one.

The newest value always lands. A write the store refuses (a restart, a full disk) is kept, unless a newer value
came meanwhile, and retried with a growing pause until the store takes it (one log line per outage, see
:class:`~jobdeck.stores._flusher.Outage`). Writes run outside every lock; a value a message took with it may
overlap one of this buffer's writes: a write older than one already handed out is not started, and when an older
write lands after a newer one was handed out, the newer one is written again.

Locks: each buffer's lock guards only its dictionaries. It is never held across store I/O or while taking
another lock, so ``update()`` after a job's first value, ``take()`` and ``forget()`` never wait for a write;
the message buffer calls ``take()`` under its own lock (that order, never the other way round).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from ..core.errors import InvalidArgumentError, JobdeckError, StoreError
from ..core.model import JobStatus, OperationRef
from ..core.operations import OperationTree
from ._flusher import Flusher, Outage, renew_after_fork

__all__ = ["ProgressBuffer", "StatusCache"]

logger = logging.getLogger("jobdeck.store")

# write(job_id, value, operation, now, operations) -> False if the job is no longer active; raises
# JobNotFoundError, and StoreError when the store cannot take it. operation and operations (the tree
# snapshot): None means unchanged.
Writer = Callable[[str, float, OperationRef | None, float, OperationTree | None], bool]
# (sequence, value, operation, wall time, operations) of a value of a job; a higher sequence is a newer value
_Entry = tuple[int, float, OperationRef | None, float, OperationTree | None]

# Remembering when each job was last written costs a few dozen bytes per job; jobs finished by another process
# never tell us, so entries older than this are forgotten.
_FORGET_AFTER = 60.0
_MAX_REMEMBERED = 1000
# How long flush() waits for a write already in flight (a safety net: a write fails within the store's timeout).
_WAIT_IN_FLIGHT = 30.0


def _merged(newer: _Entry, older: _Entry) -> _Entry:
    """``newer``, carrying ``older``'s operation and tree where it leaves them unchanged (None): a value that
    replaces one never written must not lose the operation that one set."""
    seq, value, operation, now, operations = newer
    return (seq, value, older[2] if operation is None else operation, now,
            older[4] if operations is None else operations)


class ProgressBuffer:
    """At most one progress write per job per ``interval`` seconds; the newest value always gets written.

    ``known(job_id)`` says whether a job is known to exist and run: a first value the store cannot take is
    kept for a retry when it is (the caller goes on), and raises StoreError when it is not.
    """

    def __init__(self, write: Writer, interval: float, name: str = "jobdeck-progress",
                 known: Callable[[str], bool] | None = None) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise InvalidArgumentError(f"progress_interval must be a number of seconds >= 0, got {interval!r}")
        self._write = write
        self.interval = float(interval)
        self._name = name
        self._known = known if known is not None else (lambda job_id: False)
        self._new_locks()
        # job id -> monotonic time before which a new value waits instead of being written
        self._due: dict[str, float] = {}
        self._pending: dict[str, _Entry] = {}
        self._seq = itertools.count(1)
        # job id -> the newest value handed to a writer (this buffer's, or the message queue through take())
        self._claimed: dict[str, _Entry] = {}
        self._inflight: dict[int, str] = {}  # write number -> its job, for the writes in flight
        self._numbers = itertools.count(1)
        self._outage = Outage("progress values")
        self._flusher = Flusher(self._run, name, self._after_fork)
        self._closed = False

    def _new_locks(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the background thread waits for values
        self._landed = threading.Condition(self._lock)  # flush() waits for writes in flight

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, and nothing inherited pending (the parent writes its own values)."""
        self._new_locks()
        self._pending.clear()
        self._due.clear()
        self._claimed.clear()
        self._inflight.clear()

    def update(self, job_id: str, value: float, operation: OperationRef | None, now: float,
               operations: OperationTree | None = None) -> bool:
        """Record a progress value: the first of a job written now (it must learn that the job exists), the
        others coalesced and written by the background thread within ``interval``.

        After the first value the caller never writes and never waits for a write: a write releases the
        interpreter lock for its I/O, and a job thread that gave it up waits for it again behind every busy
        thread of the process (the threads serving a dashboard's reads, say), milliseconds where a queued value
        costs a microsecond. A first value the store cannot take is kept and retried when the job is ``known``
        (True is returned); otherwise StoreError."""
        with self._lock:
            mono = time.monotonic()
            due = self._due.get(job_id)
            if due is not None and not self._closed:
                old = self._pending.get(job_id)
                entry: _Entry = (next(self._seq), value, operation, now, operations)
                if old is not None:  # None means "unchanged", not "no operation"
                    entry = _merged(entry, old)
                if not self._pending or mono >= due:
                    self._wake.notify()  # the thread sleeps until the earliest due time: this one may be earlier
                self._pending[job_id] = entry
                self._flusher.ensure()
                return True
            entry = (next(self._seq), value, operation, now, operations)
            old = self._pending.pop(job_id, None)
            if old is not None:
                entry = _merged(entry, old)
            self._due[job_id] = mono + self.interval
            if len(self._due) > _MAX_REMEMBERED:
                self._prune(mono)
        try:
            return self._apply(job_id, entry)
        except StoreError:
            if self._known(job_id):
                return True  # kept by _apply: written when the store takes it
            self.forget(job_id)
            raise

    def _prune(self, mono: float) -> None:
        """Forget jobs not written for a while (called with the lock held)."""
        writing = set(self._inflight.values())
        self._due = {j: d for j, d in self._due.items()
                     if d > mono - _FORGET_AFTER or j in self._pending or j in writing}
        self._claimed = {j: e for j, e in self._claimed.items() if j in self._due}

    def _apply(self, job_id: str, entry: _Entry) -> bool:
        """Write one value now, outside the lock. A value the store refused is kept for a retry and the
        StoreError raised; any other error forgets the job and is raised."""
        seq = entry[0]
        with self._lock:
            # One write of a job at a time: another thread's write of this job lands first (then this value is
            # written only if it is still the newest).
            deadline = time.monotonic() + _WAIT_IN_FLIGHT
            while job_id in self._inflight.values() and time.monotonic() < deadline:
                self._landed.wait(deadline - time.monotonic())
            claimed = self._claimed.get(job_id)
            if claimed is not None and claimed[0] > seq:
                return True  # a newer value of this job is on its way already
            self._claimed[job_id] = entry
            number = next(self._numbers)
            self._inflight[number] = job_id
        try:
            ok = self._write(job_id, entry[1], entry[2], entry[3], entry[4])
        except StoreError as exc:
            pause = self._outage.failed(exc, "the newest value of each job is")
            with self._lock:
                self._done(number)
                self._keep(job_id, entry, pause)
            raise
        except BaseException:
            with self._lock:
                self._done(number)
            self.forget(job_id)
            raise
        self._outage.succeeded()
        with self._lock:
            self._done(number)
            claimed = self._claimed.get(job_id)
            if ok and claimed is not None and claimed[0] > seq:
                # A newer value was handed out while this one was being written: it may have landed first and
                # this one over it, so it is written again (rare: two writes of one job overlapped).
                self._repend(job_id, claimed, time.monotonic())
        if not ok:
            self.forget(job_id)
        return ok

    def _done(self, number: int) -> None:
        del self._inflight[number]
        self._landed.notify_all()
        self._wake.notify()  # a value of the same job may wait for this write to land (_run)

    def _keep(self, job_id: str, entry: _Entry, pause: float) -> None:
        """A write of ``entry`` failed (called with the lock held): keep the job's newest value for a retry after
        ``pause`` seconds -- this one, unless a newer one waits or is on its way."""
        claimed = self._claimed.get(job_id)
        if claimed is None:
            return  # forgotten meanwhile: the job ended or vanished
        pending = self._pending.get(job_id)
        if pending is not None:
            kept = _merged(pending, entry)
        elif claimed[0] > entry[0]:
            kept = _merged(claimed, entry)
            if kept == claimed:
                return  # the newer value on its way carries everything this one did
        else:
            kept = entry
        self._repend(job_id, kept, time.monotonic() + pause)

    def _repend(self, job_id: str, entry: _Entry, due: float) -> None:
        """Make ``entry`` (or a newer pending value, carrying its operation) the job's pending value, due at
        ``due`` (called with the lock held)."""
        pending = self._pending.get(job_id)
        self._pending[job_id] = _merged(pending, entry) if pending is not None else entry
        self._due[job_id] = due
        self._wake.notify()
        if not self._closed:
            self._flusher.ensure()

    def forget(self, job_id: str) -> None:
        """The job ended (or vanished): drop what is pending for it, so that its next value is written at once."""
        with self._lock:
            self._due.pop(job_id, None)
            self._pending.pop(job_id, None)
            self._claimed.pop(job_id, None)

    def take(self, job_id: str) -> tuple[float, OperationRef | None, float, OperationTree | None] | None:
        """Hand the job's pending value to the caller, who writes it (ahead of a message that followed it).

        The message buffer calls this under its own lock, and queues the value before releasing it: a write of
        a newer value, which flushes the message queue first, then always comes after it."""
        if job_id not in self._pending:  # unlocked peek: the common case is nothing pending
            return None
        with self._lock:
            entry = self._pending.pop(job_id, None)
            if entry is None:
                return None
            # The caller writes it (with its message, within the message interval): the next value waits.
            self._due[job_id] = time.monotonic() + self.interval
            self._claimed[job_id] = entry  # an older value not yet being written is not written any more
        return entry[1], entry[2], entry[3], entry[4]

    def flush(self, job_id: str | None = None) -> None:
        """Write the pending value of one job (or of all jobs) now, and wait for one the background thread is
        writing. Cheap when nothing is pending. Raises StoreError when the store cannot take it; the values are
        then kept and retried."""
        if not self._pending and not self._inflight:  # unlocked peek: the common case is nothing to do
            return
        self._wait_in_flight(job_id)  # an older value on its way lands first: two writes of a job never overlap
        with self._lock:
            if job_id is None:
                items = list(self._pending.items())
                self._pending.clear()
            else:
                entry = self._pending.pop(job_id, None)
                items = [(job_id, entry)] if entry is not None else []
        failure = self._write_all(items)
        if failure is not None:
            raise failure
        # A value the background thread took meanwhile may still be on its way: wait for it, so that what comes
        # after a flush (a status change, a read) comes after every earlier value.
        self._wait_in_flight(job_id)

    def _wait_in_flight(self, job_id: str | None) -> None:
        """Wait (at most :data:`_WAIT_IN_FLIGHT`) for the writes of ``job_id`` (None: of every job) in flight now."""
        with self._lock:
            waits = {n for n, j in self._inflight.items() if job_id is None or j == job_id}
            deadline = time.monotonic() + _WAIT_IN_FLIGHT
            while waits & self._inflight.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._landed.wait(left)

    def _write_all(self, items: list[tuple[str, _Entry]]) -> StoreError | None:
        """Write the values; once the store failed, keep the rest for the retry instead of trying each (a
        server that is down may take seconds to say so, each time). Returns the store's failure, if any."""
        failure: StoreError | None = None
        for job_id, entry in items:
            if failure is not None:
                with self._lock:
                    self._keep(job_id, entry, self._outage.retry_in)
                continue
            try:
                self._apply(job_id, entry)
            except StoreError as exc:
                failure = exc
            except JobdeckError:
                continue  # the job vanished (deleted, evicted): forgotten, nothing to write
            except Exception:
                logger.exception("the progress of job %s could not be written", job_id)
        return failure

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                mono = time.monotonic()
                writing = set(self._inflight.values())  # those wait for their write to land (_done wakes us)
                ready = [j for j in self._pending if self._due.get(j, 0.0) <= mono and j not in writing]
                if not ready:
                    waits = [self._due.get(j, 0.0) - mono for j in self._pending if j not in writing]
                    self._wake.wait(max(0.0, min(waits)) if waits else None)
                    continue
                items = []
                for job_id in ready:
                    items.append((job_id, self._pending.pop(job_id)))
                    self._due[job_id] = mono + self.interval
                if len(self._due) > _MAX_REMEMBERED:
                    self._prune(mono)
            self._write_all(items)  # what the store refused is pending again, due after the retry pause

    def close(self) -> None:
        """Write everything pending and stop the flusher thread; what the store cannot take now is logged lost."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._flusher.join(timeout=5)
        try:
            self.flush()
        except StoreError as exc:
            logger.warning("%d progress value(s) could not be written before closing: %s", len(self._pending), exc)


class StatusCache:
    """Recently read statuses, so that ``check_abort()`` in a tight loop does not cost a round trip each time.

    In a forked child the cache gets a fresh lock (the parent's may have been held by one of its threads at the
    fork) and keeps what it knew: statuses do not depend on the process that read them."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: dict[str, tuple[JobStatus, float]] = {}
        renew_after_fork(self)

    def _forked(self) -> None:
        self._lock = threading.Lock()

    def get(self, job_id: str, max_age: float) -> JobStatus | None:
        if max_age <= 0:
            return None
        with self._lock:
            item = self._items.get(job_id)
        if item is None or time.monotonic() - item[1] > max_age:
            return None
        return item[0]

    def peek(self, job_id: str) -> JobStatus | None:
        """The cached status whatever its age (a terminal one stays true: terminal states are final)."""
        item = self._items.get(job_id)
        return item[0] if item is not None else None

    def put(self, job_id: str, status: JobStatus) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()  # crude, but a miss only costs one read
            self._items[job_id] = (status, time.monotonic())

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._items.pop(job_id, None)
