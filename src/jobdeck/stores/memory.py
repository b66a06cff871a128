"""The in-process store: the reference implementation of the contract and the test double.

One lock guards everything; each method holds it for a few dictionary operations, which is what makes
``progress()`` cost about a microsecond. Past jobs are kept sorted by (end time, id), the order of the past list,
so that eviction pops the oldest and a page (``start_from``, ``before``, ``limit``) is found by bisection and walked
back from there, touching only the jobs it returns (and those its filters skip).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
import weakref
from collections import deque
from itertools import takewhile
from typing import Any

from ..core.errors import JobConflictError
from ..core.events import EventBatch, EventType, JobEvent, job_data, message_data, progress_data
from ..core.model import ACTIVE, JobInfo, JobMessage, JobStatus, OperationRef
from ..core.operations import OperationTree
from ._failures import FailureGroup, FailureQuery, group_heads
from ._limits import MemoryLimits
from ._memory_saved import MemorySaved, SavedTexts
from ._search import SearchQuery, head_misses, message_hit
from ._summary import Counts, count_heads
from ._workers import MemoryWorkers
from .base import Change, PastQuery, Store

__all__ = ["MemoryStore"]

_ACTIVE = ACTIVE
# Enum member lookups cost ~0.1 us each on Python 3.11; the hot paths use these module constants instead.
_RUNNING = JobStatus.RUNNING
_ABORTING = JobStatus.ABORTING
_QUEUED = JobStatus.QUEUED
_PROGRESS = EventType.PROGRESS


class MemoryStore(Store):
    """Jobs in this process's memory; gone when it exits. ``MemoryStore(max_messages=1000, ...)``."""

    scheme = "memory"
    blocking = False
    shared = False

    def __init__(self, **limits: Any) -> None:
        super().__init__(**limits)
        self._lock = threading.Lock()
        self._jobs: dict[str, JobInfo] = {}
        self._active: dict[str, None] = {}  # insertion order = start order
        self._past: list[tuple[float, str]] = []  # (end time, id), ascending: the past list read backwards
        # Events are kept raw (a tuple, no formatting) because they are recorded on the hot path;
        # read_events turns them into JobEvent objects.
        self._events: deque[tuple[int, EventType, str, Any]] = deque(maxlen=self.max_events)
        self._seq = 0
        self._waiters = Waiters(self._lock)
        self._claims: dict[str, float] = {}
        self._limits = MemoryLimits()
        self._saved: dict[str, SavedTexts] = {}  # job id -> key -> JSON text; removed with the job
        self._workers = MemoryWorkers(self._lock)
        _instances.add(self)

    # ------------------------------------------------------------------ steps

    def _emit(self, kind: EventType, job_id: str, payload: Any) -> None:
        self._seq += 1
        self._events.append((self._seq, kind, job_id, payload))
        self._waiters.notify()

    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        with self._lock:
            if job.id in self._jobs:  # an id chosen by the caller (a schedule's occurrence): never two jobs
                raise JobConflictError(job.job_type, 0, [job.id], f"a job with id {job.id} exists already")
            if max_active is not None:
                same = [i for i in self._active if self._jobs[i].job_type == job.job_type]
                if len(same) >= max_active:
                    raise JobConflictError(job.job_type, max_active, same)
            stored = job.head()
            self._jobs[job.id] = stored
            self._active[job.id] = None
            self._emit(EventType.CREATED, job.id, stored.head())

    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return self._copy(job, keep)

    def _read_operations(self, job_id: str) -> OperationTree | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.operations if job is not None else None

    @staticmethod
    def _copy(job: JobInfo, keep: int | None) -> JobInfo:
        copy = job.head()
        if keep is None:
            copy.info_messages = list(job.info_messages)
            copy.warning_messages = list(job.warning_messages)
            copy.error_messages = list(job.error_messages)
        elif keep:
            copy.info_messages = job.info_messages[-keep:]
            copy.warning_messages = job.warning_messages[-keep:]
            copy.error_messages = job.error_messages[-keep:]
        return copy

    def _append(self, job: JobInfo, message: JobMessage) -> None:
        log = job.messages(message.type)
        log.append(message)
        if len(log) > self.max_messages:
            del log[: len(log) - self.max_messages]

    def _change(self, job_id: str, change: Change, emit: bool) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise self._not_found(job_id)
            applied = self._apply(change, job)
            if applied is None:
                return False
            for message in applied.added:
                self._append(job, message)
                if emit:
                    self._emit(EventType.MESSAGE, job_id, message)
            if emit:
                self._emit(EventType.STATUS, job_id, job.head())
            if applied.ended:
                del self._active[job_id]
                key = (job.end_time or 0.0, job_id)
                if not self._past or key > self._past[-1]:
                    self._past.append(key)  # the usual case: it ended last
                else:
                    bisect.insort(self._past, key)
                self._evict(job.end_time or 0.0)
            return True

    def _limit_steps(self) -> MemoryLimits:
        return self._limits

    def _claim(self, name: str, holder: str, now: float, keep: float) -> bool:
        with self._lock:
            if len(self._claims) > 10_000:
                self._claims = {k: at for k, at in self._claims.items() if at >= now - keep}
            if name in self._claims:
                return False
            self._claims[name] = now
            return True

    def _evict(self, now: float) -> None:
        expired = self._expired_before(now)
        gone = 0
        for end, job_id in self._past:
            if len(self._past) - gone > self.max_past_jobs or (expired is not None and end < expired):
                del self._jobs[job_id]
                self._saved.pop(job_id, None)
                gone += 1
            else:
                break
        if gone:
            del self._past[:gone]

    def update_progress(self, job_id: str, value: float, operation: OperationRef | None = None,
                        operations: OperationTree | None = None) -> bool:
        # The common call (a float already in [0, 1], a non-empty id) skips the base class's full validation;
        # anything else takes the checked path, so the errors are the same.
        if (type(value) is not float or not 0.0 <= value <= 1.0 or type(job_id) is not str or not job_id
                or (operations is not None and type(operations) is not OperationTree)):
            return super().update_progress(job_id, value, operation, operations)
        return self._set_progress(job_id, value, operation, time.time(), operations)

    def _set_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                      operations: OperationTree | None = None) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise self._not_found(job_id)
            status = job.status
            if status is not _RUNNING and status is not _ABORTING and status is not _QUEUED:
                return False
            job.progress = value
            job.last_activity_time = now
            if operation is not None:
                job.current_operation = operation
            if operations is not None:
                # Kept on the stored job only: head() (what copies, lists and events are made from) drops it.
                job.operations = operations
                if operations.usage is not None:  # the job's use rides with its tree (core/usage.py)
                    job.usage = operations.usage
            seq = self._seq = self._seq + 1
            self._events.append((seq, _PROGRESS, job_id, (value, now, job.current_operation)))
            if self._waiters.waiting:
                self._waiters.notify()
            return True

    def get_status(self, job_id: str, max_age: float = 0.0) -> JobStatus:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise self._not_found(job_id)
            return job.status

    def _add_message(self, job_id: str, message: JobMessage) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise self._not_found(job_id)
            if job.status not in _ACTIVE:
                return False
            self._append(job, message)
            job.last_activity_time = message.timestamp
            self._emit(EventType.MESSAGE, job_id, message)
            return True

    def _query_active(self, job_type: str | None, keep: int | None) -> list[JobInfo]:
        with self._lock:
            out = []
            for job_id in self._active:
                job = self._jobs[job_id]
                if job_type is None or job.job_type == job_type:
                    out.append(self._copy(job, keep))
            return out

    def _query_past(self, query: PastQuery) -> list[JobInfo]:
        types, statuses, start_from, limit = query.job_types, query.statuses, query.start_from, query.limit
        with self._lock:
            out: list[JobInfo] = []
            past = self._past
            # The first key after the cursor in descending order is the last one below it in ascending order.
            i = len(past) if query.before is None else bisect.bisect_left(
                past, (query.before.end_time, query.before.id))
            while i > 0 and (limit is None or len(out) < limit):
                i -= 1
                end, job_id = past[i]
                if start_from is not None and end <= start_from:
                    break  # everything further back ended earlier still
                job = self._jobs[job_id]
                if (types is None or job.job_type in types) and (statuses is None or job.status in statuses):
                    out.append(self._copy(job, query.keep))
            return out

    def _past_counts(self) -> Counts:
        with self._lock:  # one pass over the heads in place: no copies
            return count_heads(self._jobs[job_id] for _, job_id in self._past)

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        with self._lock:  # one pass over the past heads in place, newest first, stopping at ``since``
            since = query.since
            keys = reversed(self._past) if since is None else takewhile(lambda k: k[0] > since, reversed(self._past))
            return group_heads((self._jobs[job_id] for _, job_id in keys), query)

    def _find_ids(self, prefix: str, limit: int) -> list[str]:
        with self._lock:
            return sorted(i for i in self._jobs if i.startswith(prefix))[:limit]

    def _search(self, query: SearchQuery) -> list[JobInfo]:
        # Matches in place under the lock (no copies of the jobs that do not match): O(jobs + their messages).
        def matches(job: JobInfo) -> bool:
            return (query.job_type is None or job.job_type == query.job_type) and \
                (query.signature is None or job.signature == query.signature) and \
                (query.statuses is None or job.status in query.statuses) and \
                (query.schedule_id is None or job.schedule_id == query.schedule_id) and \
                all(message_hit(job, word) for word in head_misses(job, query.words))

        with self._lock:
            out = []
            if query.wants_active():
                out += [self._jobs[i].head() for i in reversed(self._active) if matches(self._jobs[i])]
            if query.wants_past():
                found = 0
                past = self._past
                i = len(past) if query.before is None else bisect.bisect_left(
                    past, (query.before.end_time, query.before.id))
                while i > 0:
                    i -= 1
                    job = self._jobs[past[i][1]]
                    if matches(job):
                        out.append(job.head())
                        found += 1
                        if found >= query.limit:
                            break
            return out

    def _delete_past(self, job_type: str | None) -> list[str]:
        with self._lock:
            gone = [i for _, i in self._past if job_type is None or self._jobs[i].job_type == job_type]
            if gone:
                removed = set(gone)
                self._past = [key for key in self._past if key[1] not in removed]
            for job_id in gone:
                del self._jobs[job_id]
                self._saved.pop(job_id, None)
                self._emit(EventType.REMOVED, job_id, None)
            return gone

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        with self._lock:
            gone = [i for i in job_ids if i in self._jobs and self._jobs[i].end_time is not None]
            if gone:
                removed = set(gone)
                self._past = [key for key in self._past if key[1] not in removed]
            for job_id in gone:
                del self._jobs[job_id]
                self._saved.pop(job_id, None)
                self._emit(EventType.REMOVED, job_id, None)
            return gone

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = {s.value: 0 for s in JobStatus}
            for job in self._jobs.values():
                counts[job.status.value] += 1
            return counts

    def _saved_steps(self) -> MemorySaved:
        return MemorySaved(self)

    def _worker_steps(self) -> MemoryWorkers:
        return self._workers

    # ------------------------------------------------------------------ events

    def _batch(self, after: str | None, limit: int) -> EventBatch | None:
        """Called with the lock held; None means 'nothing yet'."""
        if after is None:
            return EventBatch([], str(self._seq))
        try:
            cursor = int(after)
        except ValueError:
            return EventBatch([], str(self._seq), reset=True)
        oldest = self._events[0][0] if self._events else self._seq + 1
        if cursor > self._seq or cursor < oldest - 1:
            # A cursor from another store (a restarted server) or older than the bounded log.
            return EventBatch([], str(self._seq), reset=True)
        if cursor == self._seq:
            return None
        start = cursor - oldest + 1
        raw = [self._events[i] for i in range(start, min(len(self._events), start + limit))]
        return EventBatch([_to_event(r) for r in raw], str(raw[-1][0]))

    def _read_events(self, after: str | None, limit: int) -> EventBatch:
        with self._lock:
            return self._batch(after, limit) or EventBatch([], after)

    def _wait_events(self, after: str | None, timeout: float) -> EventBatch:
        with self._lock:
            batch = self._batch(after, 1000)
            if batch is None:
                self._waiters.wait(timeout)
                batch = self._batch(after, 1000)
            return batch or EventBatch([], after)


def _to_event(raw: tuple[int, EventType, str, Any]) -> JobEvent:
    seq, kind, job_id, payload = raw
    if kind is EventType.PROGRESS:
        data = progress_data(*payload)
    elif kind is EventType.MESSAGE:
        data = message_data(payload)
    elif kind is EventType.REMOVED:
        data = {}
    else:
        data = job_data(payload)
    return JobEvent(str(seq), kind, job_id, data)


class Waiters:
    """A wake-up flag for readers blocked in ``wait_events``: cheap to poke from the hot path when nobody waits."""

    __slots__ = ("_cond", "waiting")

    def __init__(self, lock: threading.Lock | threading.RLock) -> None:
        self._cond = threading.Condition(lock)
        self.waiting = 0

    def notify(self) -> None:
        """Call with the lock held."""
        if self.waiting:
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        """Call with the lock held."""
        self.waiting += 1
        try:
            self._cond.wait(timeout)
        finally:
            self.waiting -= 1


# fork(): a child copies the parent's memory, the store's lock included. A lock another thread held at that instant
# would stay held in the child for ever (no thread there releases it), and the data it guards could be half
# changed. So every memory store's lock is taken before the fork (each method holds it for microseconds) and
# released on both sides after: the child gets a consistent copy, and its own jobs from then on.
_instances: weakref.WeakSet[MemoryStore] = weakref.WeakSet()


def _before_fork() -> None:
    for store in list(_instances):
        store._lock.acquire()


def _after_fork() -> None:
    for store in list(_instances):
        if store._lock.locked():
            store._lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
