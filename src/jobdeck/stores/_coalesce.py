"""Coalesced progress writes and a small status cache, shared by the SQLite and Redis stores.

Job code may call ``progress()`` thousands of times a second; a store that writes to a file or a server cannot
follow that, and nobody can watch it anyway. :class:`ProgressBuffer` writes the first value at once and then at
most one value per job per ``interval``: later values wait in memory and a background thread writes the newest
one when the interval is over, so another process sees it within ``interval`` plus one write. Status changes
never wait: the store flushes a job's pending progress before them (:meth:`ProgressBuffer.flush`), and a message
takes the pending value with it into the message queue (:meth:`ProgressBuffer.take`), so the order of what
readers see is the order of the calls.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from ..errors import InvalidArgumentError
from ..model import JobStatus, OperationRef
from ..operations import OperationTree
from ._flusher import Flusher

__all__ = ["ProgressBuffer", "StatusCache"]

# write(job_id, value, operation, now, operations) -> False if the job is no longer active; raises
# JobNotFoundError. operation and operations (the tree snapshot): None means unchanged.
Writer = Callable[[str, float, OperationRef | None, float, OperationTree | None], bool]
# (sequence, value, operation, wall time, operations) of the newest value of a job not yet written
_Pending = tuple[int, float, OperationRef | None, float, OperationTree | None]

# Remembering when each job was last written costs a few dozen bytes per job; jobs finished by another process
# never tell us, so entries older than this are forgotten.
_FORGET_AFTER = 60.0
_MAX_REMEMBERED = 1000


class ProgressBuffer:
    """At most one progress write per job per ``interval`` seconds; the newest value always gets written."""

    def __init__(self, write: Writer, interval: float, name: str = "jobdeck-progress") -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise InvalidArgumentError(f"progress_interval must be a number of seconds >= 0, got {interval!r}")
        self._write = write
        self.interval = float(interval)
        self._name = name
        self._new_locks()
        # job id -> monotonic time before which a new value waits instead of being written
        self._due: dict[str, float] = {}
        self._pending: dict[str, _Pending] = {}
        # Writes run outside the buffer lock, so two can overtake each other; the sequence number lets the later
        # value win (a write older than what was already written for that job is dropped).
        self._seq = itertools.count(1)
        self._written: dict[str, int] = {}
        self._flusher = Flusher(self._run, name, self._after_fork)
        self._closed = False

    def _new_locks(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._write_lock = threading.Lock()

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, and nothing inherited pending (the parent writes its own values)."""
        self._new_locks()
        self._pending.clear()
        self._due.clear()
        self._written.clear()

    def update(self, job_id: str, value: float, operation: OperationRef | None, now: float,
               operations: OperationTree | None = None) -> bool:
        """Record a progress value: the first of a job written now (it must learn that the job exists), the
        others coalesced and written by the background thread within ``interval``.

        After the first value the caller never writes and never waits for a write: a write releases the
        interpreter lock for its I/O, and a job thread that gave it up waits for it again behind every busy
        thread of the process (the threads serving a dashboard's reads, say), milliseconds where a queued value
        costs a microsecond."""
        with self._lock:
            mono = time.monotonic()
            due = self._due.get(job_id)
            if due is not None and not self._closed:
                old = self._pending.get(job_id)
                if old is not None:  # None means "unchanged", not "no operation"
                    operation = old[2] if operation is None else operation
                    operations = old[4] if operations is None else operations
                if not self._pending or mono >= due:
                    self._wake.notify()  # the thread sleeps until the earliest due time: this one may be earlier
                self._pending[job_id] = (next(self._seq), value, operation, now, operations)
                self._flusher.ensure()
                return True
            old = self._pending.pop(job_id, None)
            if old is not None:
                operation = old[2] if operation is None else operation
                operations = old[4] if operations is None else operations
            seq = next(self._seq)
            self._due[job_id] = mono + self.interval
            if len(self._due) > _MAX_REMEMBERED:
                self._prune(mono)
        return self._apply(job_id, (seq, value, operation, now, operations))

    def _prune(self, mono: float) -> None:
        """Forget jobs not written for a while (called with the lock held; takes the write lock after it,
        the same order as everywhere else)."""
        self._due = {j: d for j, d in self._due.items() if d > mono - _FORGET_AFTER or j in self._pending}
        with self._write_lock:
            self._written = {j: s for j, s in self._written.items() if j in self._due}

    def _apply(self, job_id: str, entry: _Pending) -> bool:
        seq, value, operation, now, operations = entry
        try:
            with self._write_lock:
                if self._written.get(job_id, 0) > seq:
                    return True  # a newer value of this job is already written
                ok = self._write(job_id, value, operation, now, operations)
                self._written[job_id] = seq
        except BaseException:
            self.forget(job_id)
            raise
        if not ok:
            self.forget(job_id)
        return ok

    def forget(self, job_id: str) -> None:
        """The job ended (or vanished): drop what is pending for it, so that its next value is written at once."""
        with self._lock:
            self._due.pop(job_id, None)
            self._pending.pop(job_id, None)
        with self._write_lock:
            self._written.pop(job_id, None)

    def take(self, job_id: str) -> tuple[float, OperationRef | None, float, OperationTree | None] | None:
        """Hand the job's pending value to the caller, who writes it (ahead of a message that followed it);
        a value of this job still being written by this buffer, which is older, is then not written."""
        if job_id not in self._pending:  # unlocked peek: the common case is nothing pending
            return None
        with self._lock:
            entry = self._pending.pop(job_id, None)
            if entry is not None:
                # The caller writes it (with its message, within the message interval): the next value waits.
                self._due[job_id] = time.monotonic() + self.interval
        if entry is None:
            return None
        seq, value, operation, now, operations = entry
        with self._write_lock:
            if self._written.get(job_id, 0) > seq:
                return None
            self._written[job_id] = seq
        return value, operation, now, operations

    def flush(self, job_id: str | None = None) -> None:
        """Write the pending value of one job (or of all jobs) now. Cheap when nothing is pending."""
        if not self._pending:  # unlocked peek: a value added concurrently is written by its own interval
            return
        with self._lock:
            if job_id is None:
                items = list(self._pending.items())
                self._pending.clear()
            else:
                entry = self._pending.pop(job_id, None)
                items = [(job_id, entry)] if entry is not None else []
        for key, entry in items:
            try:
                self._apply(key, entry)
            except Exception:  # noqa: S112 - the job vanished or was reaped; its next change reports that
                continue

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                mono = time.monotonic()
                ready = [j for j in self._pending if self._due.get(j, 0.0) <= mono]
                if not ready:
                    waits = [self._due.get(j, 0.0) - mono for j in self._pending]
                    self._wake.wait(min(waits) if waits else None)
                    continue
                items = []
                for job_id in ready:
                    items.append((job_id, self._pending.pop(job_id)))
                    self._due[job_id] = mono + self.interval
                if len(self._due) > _MAX_REMEMBERED:
                    self._prune(mono)
            for job_id, entry in items:
                try:
                    self._apply(job_id, entry)
                except Exception:  # noqa: S112 - see flush(); a flusher thread must not die
                    continue

    def close(self) -> None:
        """Write everything pending and stop the flusher thread."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._flusher.join(timeout=5)
        self.flush()


class StatusCache:
    """Recently read statuses, so that ``check_abort()`` in a tight loop does not cost a round trip each time."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: dict[str, tuple[JobStatus, float]] = {}

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
