"""The store contract: what every backend offers and the invariants the base class owns.

The public methods here validate input, decide state transitions and word the messages; a backend only
provides small storage steps (``_insert``, ``_read``, ``_change``, ...) and makes each one atomic in its own
way: a lock for memory, a transaction for SQLite and PostgreSQL, MULTI/EXEC or Lua for Redis. That keeps the
lifecycle rules in one place, so that every backend passes one behaviour suite.

What the public methods hand over to, each in one module of its own:

- the lifecycle rules (complete, fail, abort requested, aborted, heartbeat, claim, re-queue, lost): pure
  :data:`Change` functions in :mod:`._transitions`; a backend's ``_change`` runs one on the head it loaded through
  :meth:`Store._apply` and persists what :class:`Applied` says;
- when a job is stale and whether the reaper fails or re-queues it: :mod:`._staleness`;
- the observers of created, claimed, re-queued, retried and finished jobs: :mod:`._observers`;
- saved values (their keys, bound and sizes): :mod:`._saved`;
- the arguments of reads (which messages, one page of past jobs): :mod:`._queries`;
- finding jobs by id prefix and words: :mod:`._search`; the per-type summary: :mod:`._summary`;
- the registry of processes that run jobs (issue 22): :mod:`._workers`.

Mutations on a job that already reached a terminal state change nothing and return ``False``: a late
``progress()`` from a handler that is still unwinding after an abort must not crash it. Unknown ids raise
:class:`~jobdeck.JobNotFoundError` (``get_job`` returns ``None``).
"""

# Long: the contract is one class: every public method of a store (with the docstring users read) and every
# abstract step a backend implements; the rules, policies and parsing they use live in the modules named above.

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from ..core.checks import (
    TimeLike,
    as_timestamp,
    check_id,
    check_json,
    check_message,
    check_params,
    check_progress,
    check_text,
)
from ..core.errors import AmbiguousJobIdError, InvalidArgumentError, JobNotFoundError
from ..core.events import EventBatch
from ..core.jsoncodec import dumps_text, loads_stored
from ..core.limits import LimitUse, check_capacity, check_limit_name
from ..core.model import TERMINAL, JobInfo, JobMessage, JobStatus, MessageType, OperationRef, PastCursor
from ..core.operations import OperationTree
from ..core.schedule_state import Schedule, ScheduleOutcome
from ..core.signature import signature_of
from ..core.workers import WORKER_RETENTION, WorkerInfo
from . import _schedules, _staleness
from . import _transitions as rules
from ._failures import FailureGroup, FailureQuery, generic_failure_groups
from ._limits import LimitSteps
from ._observers import Observers, Transition
from ._queries import Messages, PastQuery, message_view, past_query
from ._saved import DEFAULT_MAX_SAVED_BYTES, SavedSteps, Saving, check_key, check_limit, shown, text_bytes, too_large
from ._search import SearchQuery, generic_find_ids, generic_search, parse_prefix
from ._spend_total import SpendTotal, generic_spend_total
from ._staleness import STALE_PREFIX
from ._summary import MAX_RUNS as MAX_SUMMARY_RUNS
from ._summary import Counts, PastSummary, check_runs, generic_past_counts
from ._transitions import Change
from ._wakeup import Wakeup
from ._workers import WorkerSteps

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "DEFAULT_MAX_PAST_JOBS",
    "DEFAULT_MAX_SAVED_BYTES",
    "DEFAULT_STALE_AFTER",
    "MAX_SUMMARY_RUNS",
    "STALE_PREFIX",
    "Applied",
    "Change",
    "FailureGroup",
    "Messages",
    "PastQuery",
    "PastSummary",
    "Store",
    "Transition",
    "message_view",
]

logger = logging.getLogger("jobdeck.store")

DEFAULT_MAX_MESSAGES = 1000
DEFAULT_MAX_PAST_JOBS = 1000
# A runner heartbeats every stale_after / 6 (at most every 10 s), so one minute tolerates several missed
# beats on a loaded machine while still catching a killed process within a minute.
DEFAULT_STALE_AFTER = 60.0

# How often a waiter reads the events again when nothing in this process woke it: other processes' writes are
# found that way (backends with a notification mechanism override _poll_interval).
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class Applied:
    """What a :data:`Change` did to the head it ran on, for the backend's atomic step to persist: the messages to
    append (``added``, capped by the backend), ``now`` (the step's time) and whether the job ``ended`` in this
    step (it was active and is terminal now: past jobs beyond retention are evicted)."""

    added: list[JobMessage]
    ended: bool
    now: float


class Store(ABC):
    """Where jobs live. Thread-safe; every method may be called from any thread."""

    scheme: ClassVar[str] = ""
    # Whether calls may wait on I/O (a file, a server). Async callers (the API) run a blocking store's calls in
    # a thread pool and a non-blocking one's (the memory store: microseconds under a lock) directly.
    blocking: ClassVar[bool] = True
    #: Whether other processes see this store's jobs (a file or a server): the workers of a task engine need it.
    shared: ClassVar[bool] = True

    def __init__(
        self,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_past_jobs: int = DEFAULT_MAX_PAST_JOBS,
        max_past_age: float | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
        max_events: int = 10_000,
        max_saved_bytes: int = DEFAULT_MAX_SAVED_BYTES,
    ) -> None:
        for name, value in (("max_messages", max_messages), ("max_past_jobs", max_past_jobs),
                            ("max_events", max_events)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
        for name, limit in (("stale_after", stale_after), ("max_past_age", max_past_age)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0):
                raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {limit!r}")
        self.max_messages = max_messages
        self.max_past_jobs = max_past_jobs
        self.max_past_age = float(max_past_age) if max_past_age is not None else None
        self.stale_after = float(stale_after)
        self.max_events = max_events
        self.max_saved_bytes = check_limit(max_saved_bytes)
        self._observers = Observers()
        self._wakeup = Wakeup()  # wakes this process's wait_events callers (see _wait_events)
        self._memory_schedules = _schedules.MemorySchedules()  # a store no other process sees keeps them here
        self._decoded_workers: dict[str, WorkerInfo] = {}  # the last get_workers' records by their stored text
        self._schedule_observers: list[Callable[[ScheduleOutcome], None]] = []

    # ------------------------------------------------------------------ storage steps (backends)

    @abstractmethod
    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        """Store a new job atomically; raise JobConflictError if ``max_active`` jobs of its type are active, and
        refuse one whose id exists (a schedule chooses its occurrence's job id before creating it: JobConflictError
        on memory and Redis, the primary key's StoreError on SQLite and PostgreSQL)."""

    @abstractmethod
    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        """A copy of the job with its newest ``keep`` messages of each kind (None: all, 0: none, and then no
        message is read), or None."""

    @abstractmethod
    def _change(self, job_id: str, change: Change, emit: bool) -> bool:
        """Atomically load the head, run ``change``, persist it and its messages (capped), evict past jobs
        beyond retention if the job turned terminal, and (if ``emit``) record message and status events.
        Raise JobNotFoundError for an unknown id; return False when ``change`` refused."""

    @abstractmethod
    def _set_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                      operations: OperationTree | None) -> bool:
        """The hot path: set progress and activity time of an active job, record a progress event.
        ``operation`` and ``operations`` (the tree snapshot, kept beside the progress and read only by
        :meth:`_read_operations`): None means unchanged."""

    @abstractmethod
    def _read_operations(self, job_id: str) -> OperationTree | None:
        """The job's operation tree as last written (None if none was, or no such job)."""

    @abstractmethod
    def _add_message(self, job_id: str, message: JobMessage) -> bool:
        """The hot path: append to an active job's log (capped), refresh activity time, record an event."""

    @abstractmethod
    def _query_active(self, job_type: str | None, keep: int | None) -> list[JobInfo]:
        """Active jobs (of a type, or all) oldest first, with their newest ``keep`` messages of each kind."""

    @abstractmethod
    def _query_past(self, query: PastQuery) -> list[JobInfo]:
        """One page of past jobs (see :class:`PastQuery`), filtered, ordered and limited inside the backend's
        query; messages read only for the jobs returned, and only as many as ``query.keep`` asks for."""

    @abstractmethod
    def _delete_past(self, job_type: str | None) -> list[str]:
        """Delete past jobs (of a type, or all); record ``removed`` events; return their ids."""

    @abstractmethod
    def _read_events(self, after: str | None, limit: int) -> EventBatch:
        """Events after the cursor (None: none, just the current cursor)."""

    def _wait_events(self, after: str | None, timeout: float) -> EventBatch:
        """Read; while there is nothing new, wait for a write of this process (``self._wakeup.notify()``, which a
        backend calls after each of its writes) or ``_poll_interval()`` (other processes' writes are found by
        reading again), until ``timeout``. Memory and Redis override it: they block in their own way."""
        deadline = time.monotonic() + timeout
        while True:
            generation = self._wakeup.generation
            batch = self._read_events(after, 1000)
            remaining = deadline - time.monotonic()
            if batch.events or batch.reset or after is None or remaining <= 0:
                return batch
            self._wakeup.wait(generation, min(self._poll_interval(), remaining))

    def _poll_interval(self) -> float:
        """How long :meth:`_wait_events` waits before reading again when nothing in this process woke it."""
        return _POLL

    def _claim(self, name: str, holder: str, now: float, keep: float) -> bool:
        """Record ``name`` as claimed by ``holder`` unless it already is (atomically, across processes);
        forget claims older than ``keep`` seconds. True for the one caller that recorded it."""
        raise NotImplementedError(f"{type(self).__name__} cannot record claims")

    def close(self) -> None:
        """Release connections and flush buffered writes. The store is unusable afterwards."""

    def flush(self) -> None:
        """Write out anything coalesced in memory (backends that batch progress writes override this)."""

    def ping(self) -> None:
        """One round trip through the way this store serves its steps (its pool, its transactions): returns when
        it can serve now, raises (StoreError) when it cannot. For readiness checks (``/readyz``)."""
        self.read_events(None)

    # ------------------------------------------------------------------ storage steps: saved values (issue 21)

    @abstractmethod
    def _saved_steps(self) -> SavedSteps:
        """The backend's storage of saved values (:class:`~jobdeck.stores._saved.SavedSteps`: save, values, keys),
        in a module of its own beside the backend's."""

    @abstractmethod
    def _worker_steps(self) -> WorkerSteps:
        """The backend's storage of worker records (:class:`~jobdeck.stores._workers.WorkerSteps`), in a module of
        its own beside the backend's."""

    # ------------------------------------------------------------------ storage steps: shared limits (issue 24)

    def _limit_steps(self) -> LimitSteps:
        """The backend's shared limits (:class:`~jobdeck.stores._limits.LimitSteps`), in a module of its own."""
        raise NotImplementedError(f"{type(self).__name__} keeps no shared limits")

    def acquire_slot(self, name: str, holder: str, concurrency: int, *, job_id: str | None = None,
                     lease: float | None = None) -> tuple[bool, int]:
        """Take one of ``concurrency`` slots of the limit ``name`` for ``holder`` (a unique token), shared by every
        process on this store, as a lease of ``lease`` seconds (default ``stale_after``) to :meth:`renew_slot`;
        refused, ``holder`` is recorded as waiting. Returns (taken, slots in use)."""
        name, capacity = check_limit_name(name), check_capacity(concurrency)
        now = time.time()
        return self._limit_steps().acquire(name, check_text(holder, "holder"), capacity, job_id=job_id or "", now=now,
                                           expires=now + (lease if lease is not None else self.stale_after))

    def renew_slot(self, name: str, holder: str, lease: float | None = None) -> bool:
        """Extend ``holder``'s lease; False when it had expired (the slot may be someone else's now)."""
        return self._limit_steps().renew(check_limit_name(name), holder,
                                         time.time() + (lease if lease is not None else self.stale_after))

    def release_slot(self, name: str, holder: str) -> None:
        """Give ``holder``'s slot (or its place among the waiters) back."""
        self._limit_steps().release(check_limit_name(name), holder)

    def reserve_rate(self, name: str, interval: float) -> float:
        """The time (``time.time()``) at which the next call of the rate limit ``name`` may start: calls start
        ``interval`` seconds apart across every process on this store."""
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval < math.inf:
            raise InvalidArgumentError(f"interval must be a positive number of seconds, got {interval!r}")
        return self._limit_steps().reserve(check_limit_name(name), float(interval), time.time())

    def limit_uses(self) -> list[LimitUse]:
        """Every shared limit with a holder, a waiter or a rate: what ``GET /limits`` shows."""
        return self._limit_steps().uses(time.time())

    # ------------------------------------------------------------------ observers and claims

    def add_observer(self, fn: Callable[[Transition], None]) -> None:
        """Call ``fn(transition)`` after every job this store object creates, claims for a worker or brings to a
        terminal status (metrics count there). It runs on the caller's thread after the change is stored; an
        exception in it is logged and never reaches the job."""
        self._observers.add(fn)

    def remove_observer(self, fn: Callable[[Transition], None]) -> None:
        self._observers.remove(fn)

    @contextmanager
    def observations_held(self) -> Iterator[None]:
        """Hold the observers' calls for the changes this thread makes in the block: made when it ends normally,
        dropped when it raises. For changes inside a caller's transaction that may yet roll back
        (:meth:`PostgresStore.using <jobdeck.stores.postgres.PostgresStore.using>`): a job that never existed
        must not be counted."""
        with self._observers.held():
            yield

    def claim(self, name: str, holder: str = "", *, keep: float = 7 * 86400.0) -> bool:
        """True for exactly one caller per ``name``, whichever process or store object asks (the store's atomic
        step decides): e.g. ``claim(f"notify:{job_id}:{url}")`` before sending a notification. A claim is
        remembered for ``keep`` seconds (a week)."""
        if not isinstance(name, str) or not name or len(name) > 1000:
            raise InvalidArgumentError(
                f"claim name must be a non-empty string of at most 1000 characters, got {name!r}")
        return self._claim(check_text(name, "claim name"), check_text(holder, "holder"), time.time(), keep)

    def _changed(self, job_id: str, change: Change, reaped: bool = False, retried: bool = False) -> bool:
        """``_change`` with emit, then observers see the job if it turned terminal (or the reaper re-queued it, or
        ``retried``: it went back to the queue for its next attempt)."""
        seen: list[JobInfo] = []

        def watched(job: JobInfo, now: float) -> list[JobMessage] | None:
            added = change(job, now)
            if added is not None:
                seen[:] = [job]
            return added

        if not self._observers:
            return self._change(job_id, change, emit=True)
        if not self._change(job_id, watched, emit=True):
            return False
        requeued = bool(seen) and seen[0].status is JobStatus.QUEUED
        if seen and (seen[0].status.is_terminal or ((reaped or retried) and requeued)):
            self._observers.observe(seen[0].head(), reaped, retried=bool(retried and requeued))
        return True

    def _apply(self, change: Change, job: JobInfo) -> Applied | None:
        """Run ``change`` on the head a backend's atomic step loaded (None: refused, nothing to write). The rules
        every backend's ``_change`` shares: a job that turns terminal gets an end time (the schema's invariant:
        active exactly while it has none); one that fails gets the signature of its error message."""
        was_active = job.is_active
        now = time.time()
        added = change(job, now)
        if added is None:
            return None
        if job.status.is_terminal and job.end_time is None:
            job.end_time = now
        if was_active and job.status is JobStatus.FAILED:
            # Every way a job fails passes here: its cause is written with the status, for GET /failures.
            errors = [m.message for m in added if m.type is MessageType.ERROR]
            job.signature = signature_of(errors[-1] if errors else None)
        return Applied(added, was_active and job.status.is_terminal, now)

    # ------------------------------------------------------------------ creating and reading

    def create_job(
        self,
        job_type: str,
        author: str,
        params: Any = None,
        *,
        max_active: int | None = None,
        owner: str | None = None,
        rerun_of: str | None = None,
        queued: bool = False,
        max_attempts: int = 1,
        resumed_from: str | None = None,
        job_id: str | None = None,
        schedule_id: str | None = None,
        run_at: TimeLike | None = None,
    ) -> JobInfo:
        """Create a ``running`` job (``queued=True``: a ``queued`` one, waiting for a worker to
        :meth:`claim_job` it; ``run_at``: a ``queued`` one due then, started as a due retry is: see
        :meth:`due_retries`). With ``max_active``, refuse (JobConflictError) when that many jobs of this type
        are already active (queued ones included) -- checked and inserted atomically, also across processes.
        ``rerun_of``: the id of the job this one re-runs. ``max_attempts``: how many runs its type allows (see
        :meth:`schedule_retry`); ``resumed_from``: the id of the job whose saved values it takes over
        (:meth:`copy_saved`); ``job_id``: the id to give it (a UUID; a schedule chooses its occurrence's job id
        before creating it); ``schedule_id``: the schedule that starts it."""
        if rerun_of is not None:
            check_id(rerun_of, "rerun_of")
        if resumed_from is not None:
            check_id(resumed_from, "resumed_from")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts must be a whole number >= 1, got {max_attempts!r}",
                                       "max_attempts")
        if not isinstance(job_type, str) or not job_type.strip():
            raise InvalidArgumentError(f"job_type must be a non-empty string, got {job_type!r}", "job_type")
        check_text(job_type, "job_type")
        check_text(author, "author")
        if owner is not None:
            check_text(owner, "owner")
        params = check_params(params)
        if job_id is not None:
            try:
                job_id = str(uuid.UUID(job_id))
            except (TypeError, ValueError, AttributeError):
                raise InvalidArgumentError(f"job_id must be a UUID, got {job_id!r}", "job_id") from None
        if schedule_id is not None:
            check_text(schedule_id, "schedule_id")
        due = as_timestamp(run_at, "run_at")
        if due is not None and not math.isfinite(due):
            raise InvalidArgumentError(f"run_at must be a time, got {run_at!r}", "run_at")
        queued = queued or due is not None
        now = time.time()
        job = JobInfo(
            id=job_id or str(uuid.uuid4()),
            job_type=job_type,
            author=author,
            start_time=now,
            last_activity_time=now,
            params=params,
            owner=None if queued else owner,
            heartbeat_time=now if owner and not queued else None,
            rerun_of=rerun_of,
            status=JobStatus.QUEUED if queued else JobStatus.RUNNING,
            queued_time=now if queued else None,
            max_attempts=max_attempts,
            resumed_from=resumed_from,
            schedule_id=schedule_id,
            run_at=due,
            retry_at=due,  # waits as a due retry does: whichever process runs the type starts it, once
        )
        self._insert(job, max_active)
        if self._observers:
            self._observers.observe(job.head())
        return job

    def claim_job(self, job_id: str, owner: str) -> JobInfo | None:
        """``queued -> running`` for the worker ``owner`` (``host:pid:token``), atomically: of several workers
        that received the same job, exactly one gets it. The job's ``start_time`` becomes now; a job that waited
        for its next attempt (:meth:`schedule_retry`) no longer does (``retry_at`` cleared).

        Returns the claimed job (without messages), or None if it is no longer queued (aborted while it waited,
        failed as lost, or claimed by another worker): the worker must then drop it.
        """
        check_text(owner, "owner")
        claimed: list[JobInfo] = []
        change = rules.claiming(owner, claimed)
        try:
            if not self._change(check_id(job_id), change, emit=True):
                return None
        except JobNotFoundError:
            return None
        if self._observers:
            self._observers.observe(claimed[0].head(), claimed=True)
        return claimed[0].head()

    def get_job(self, job_id: str) -> JobInfo | None:
        """The job with its messages, or None if no such job exists (any more)."""
        if not isinstance(job_id, str) or "\x00" in job_id:  # no job has such an id (and some stores refuse it)
            return None
        return self._read(job_id, None)

    def require_job(self, job_id: str, *, messages: Messages = True, operations: bool = False) -> JobInfo:
        """Like :meth:`get_job` but raises JobNotFoundError. ``messages``: True all, False none, N the newest N
        of each kind. ``operations=True`` also reads the operation tree (``JobInfo.operations``), which only the
        view of one job needs: listings never read it."""
        job = self._read(check_id(job_id), message_view(messages))
        if job is None:
            raise self._not_found(job_id)
        if operations:
            # A second read, not one atomic step with the first: the tree is a display snapshot, and the
            # progress beside it moves on between any two reads anyway.
            try:
                job.operations = self._read_operations(job.id)
            except ValueError:  # a stored tree this version cannot decode: the job is still shown, without it
                logger.warning("job %s: its stored operation tree cannot be read; shown without it", job.id,
                               exc_info=True)
        return job

    def get_active_jobs(self, job_type: str | None = None, *, messages: Messages = True) -> list[JobInfo]:
        """Active jobs (queued, running, aborting), oldest (first created) first. ``messages``: True all, False
        none, N the newest N of each kind."""
        if job_type is not None:
            check_text(job_type, "job_type")
        return self._query_active(job_type, message_view(messages))

    def get_past_jobs(
        self,
        job_type: str | Iterable[str] | None = None,
        statuses: Iterable[JobStatus | str] | None = None,
        start_from: TimeLike | None = None,
        *,
        messages: Messages = True,
        limit: int | None = None,
        before: PastCursor | str | None = None,
    ) -> list[JobInfo]:
        """Finished jobs, most recently ended first (ties: by id, descending).

        ``job_type`` is one type or several; ``start_from`` keeps those that ended after it; ``limit`` returns at
        most that many; ``before`` (a :class:`~jobdeck.core.model.PastCursor` or its text) continues after the last job
        of the previous page::

            page = store.get_past_jobs(limit=50, messages=False)
            while page:
                ...
                page = store.get_past_jobs(limit=50, messages=False, before=PastCursor.of(page[-1]))

        ``messages``: True all, False none, N the newest N of each kind. Every argument is applied inside the
        backend's query: a page costs the same whatever the size of the history.
        """
        return self._query_past(past_query(job_type, statuses, start_from, messages=messages, limit=limit,
                                                 before=before))

    def past_summary(self, runs: int = 20) -> list[PastSummary]:
        """Per job type with past jobs (by name): how many ended in each terminal status, and its ``runs``
        newest past jobs (newest ended first, no messages). Costs one count and one ``LIMIT`` query per type,
        whatever the size of the history (on stores that count in their query language)::

            for summary in store.past_summary(runs=5):
                print(summary.job_type, summary.counts[JobStatus.FAILED], [j.id for j in summary.recent])
        """
        runs = check_runs(runs)
        summaries = []
        for job_type, counts in sorted(self._past_counts().items()):
            recent = self._query_past(PastQuery(frozenset([job_type]), limit=runs, keep=0)) if runs else []
            summaries.append(PastSummary(job_type, {s: counts.get(s, 0) for s in TERMINAL}, recent))
        return summaries

    def failure_groups(self, since: TimeLike | None = None, job_type: str | None = None, *, limit: int = 50,
                       ids: int = 20) -> list[FailureGroup]:
        """Failed jobs grouped by signature (their error's cause, :mod:`jobdeck.core.signature`), newest group
        first: those that ended after ``since``, of ``job_type``; at most ``limit`` groups (up to 500), each with
        its newest ``ids`` job ids (up to 100) and its newest job's error message::

            for group in store.failure_groups(since=time.time() - 3600):
                print(group.count, group.signature, group.job_ids[:3])

        Counted inside the store where it can (SQLite, PostgreSQL: one ``GROUP BY``; memory: one pass under its
        lock; Redis: the (type, signature) counts it keeps beside the jobs, in one script), and each group's example
        message."""
        query = FailureQuery.build(since, job_type, limit, ids)
        groups = self._failure_groups(query) if query.limit else []
        for group in groups:  # the example message, unless the backend's step read it already
            if group.message is not None:
                continue
            newest = self._read(group.job_ids[0], 1) if group.job_ids else None
            if newest is not None and newest.error_messages:
                group.message = newest.error_messages[-1].message
        return groups

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        # Backends that can group in their query (GROUP BY) override this; the fallback reads every failed head.
        return generic_failure_groups(self, query)

    def _past_counts(self) -> Counts:
        # Backends that can count in their query (GROUP BY) override this; the fallback reads every past head.
        return generic_past_counts(self)

    # ------------------------------------------------------------------ finding jobs

    def find_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of jobs that start with ``prefix`` (at least 6 characters), sorted, at most ``limit``."""
        return self._find_ids(parse_prefix(prefix), limit)

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id of the one job whose id starts with ``id_or_prefix``.

        JobNotFoundError when none does, AmbiguousJobIdError (listing candidates) when several do.
        """
        prefix = parse_prefix(id_or_prefix)
        found = self._find_ids(prefix, 11)
        if not found:
            raise JobNotFoundError(id_or_prefix.strip(), "no job id starts with it")
        if len(found) > 1:
            raise AmbiguousJobIdError(prefix, found)
        return found[0]

    def search_jobs(
        self,
        text: str | None = None,
        *,
        job_type: str | None = None,
        statuses: Iterable[JobStatus | str] | None = None,
        limit: int = 50,
        before: PastCursor | str | None = None,
        schedule_id: str | None = None,
        signature: str | None = None,
    ) -> list[JobInfo]:
        """Matching jobs without messages: without ``before`` the active ones (newest started first) and then
        up to ``limit`` past ones in the past list's order; ``before=PastCursor.of(last past job)`` continues.

        Each word of ``text`` must match the job's id (a prefix), author, params or one of its messages,
        case-insensitively (stores/_search.py); ``schedule_id`` keeps the jobs that schedule started, ``signature``
        only failed jobs with this signature (a group of :meth:`failure_groups`). The store does the matching, at a
        cost that depends on the backend (docs/search.md)."""
        return self._search(SearchQuery.build(text, job_type, statuses, limit, before, schedule_id=schedule_id,
                                              signature=signature))

    def spend_total(self, text: str | None = None, *, job_type: str | None = None,
                    statuses: Iterable[JobStatus | str] | None = None, schedule_id: str | None = None,
                    signature: str | None = None) -> SpendTotal:
        """What every job :meth:`search_jobs` would match (active and past, every page) spent together: known
        costs and tokens (stores/_spend_total.py; the SQL stores add it up in one statement)."""
        return self._spend_total(SearchQuery.build(text, job_type, statuses, 1, schedule_id=schedule_id,
                                                   signature=signature))

    def _spend_total(self, query: SearchQuery) -> SpendTotal:
        # Backends that can add up inside the store override this; the fallback pages through the search.
        return generic_spend_total(self, query)

    def _find_ids(self, prefix: str, limit: int) -> list[str]:
        # Backends with an ordered index on the id override this; the fallback lists every job.
        return generic_find_ids(self, prefix, limit)

    def _search(self, query: SearchQuery) -> list[JobInfo]:
        # Backends that can match inside the store override this; the fallback filters the list steps.
        return generic_search(self, query)

    def get_status(self, job_id: str, max_age: float = 0.0) -> JobStatus:
        """The job's status. Backends across a network may answer from a cache up to ``max_age`` seconds old
        (changes made through this store object are seen at once)."""
        return self.require_job(job_id, messages=False).status

    def get_all_messages(self, job_id: str) -> list[JobMessage]:
        """Info, warning and error messages merged, oldest first."""
        return self.require_job(job_id).all_messages()

    def stats(self) -> dict[str, int]:
        """Number of jobs per status (past ones as far as retention keeps them)."""
        counts = {s.value: 0 for s in JobStatus}
        for job in self.get_active_jobs(messages=False):
            counts[job.status.value] += 1
        for job in self.get_past_jobs(messages=False):
            counts[job.status.value] += 1
        return counts

    # ------------------------------------------------------------------ progress and messages

    def update_progress(self, job_id: str, value: float, operation: OperationRef | None = None,
                        operations: OperationTree | None = None) -> bool:
        """Set progress (clamped to [0, 1]), and the current operation and the operation tree when given (None:
        unchanged); False if the job already finished. Stores that coalesce progress writes keep the newest
        tree with the newest value, so a tree costs at most one write per flush."""
        if operations is not None and not isinstance(operations, OperationTree):
            raise InvalidArgumentError(f"operations must be an OperationTree, got {type(operations).__name__}")
        return self._set_progress(check_id(job_id), check_progress(value), operation, time.time(), operations)

    def add_message(self, job_id: str, kind: MessageType | str, text: str) -> bool:
        """Append to an active job's log (False if it already finished). Every message is stored as
        :func:`~jobdeck.core.checks.check_message` makes it: cut to ``MAX_MESSAGE_CHARS`` with a marker, NUL
        characters replaced by U+FFFD."""
        message = JobMessage(MessageType(kind), check_message(text), time.time())
        return self._add_message(check_id(job_id), message)

    def add_info_message(self, job_id: str, text: str) -> bool:
        return self._add_message(check_id(job_id), JobMessage(MessageType.INFO, check_message(text), time.time()))

    def add_warning_message(self, job_id: str, text: str) -> bool:
        return self._add_message(check_id(job_id), JobMessage(MessageType.WARNING, check_message(text), time.time()))

    def add_error_message(self, job_id: str, text: str) -> bool:
        return self._add_message(check_id(job_id), JobMessage(MessageType.ERROR, check_message(text), time.time()))

    # ------------------------------------------------------------------ lifecycle

    def complete_job(self, job_id: str, result: Any = None) -> bool:
        """``completed`` with progress 1 and ``result``. Also from ``aborting``: the work did finish."""
        change = rules.completing(check_json(result, "result"))  # the result is checked first, as it always was
        return self._changed(check_id(job_id), change)

    def fail_job(self, job_id: str, error_message: str | None = None) -> bool:
        """``failed``; ``error_message`` is added as an error message (as :meth:`add_message` stores one)."""
        if error_message is not None:
            error_message = check_message(error_message, "error_message")
        return self._changed(check_id(job_id), rules.failing(error_message))

    def request_abort(self, job_id: str, reason: str | None = None, *, by: str | None = None) -> bool:
        """Ask a running job to stop: it turns ``aborting`` until its code sees ``check_abort()``. A ``queued``
        job ends ``aborted`` at once: it never starts (a worker that still receives it cannot claim it); so does
        one waiting for its next attempt (:meth:`schedule_retry`), which then gets none.

        ``by`` names who asked (kept as ``abortedBy``). True if the job is now aborting or was aborted while
        queued (a repeated request is a no-op), False if it already finished.
        """
        said_reason = reason
        if reason is not None:
            reason = check_message(reason, "reason")
        if by is not None:
            check_text(by, "by")

        who = f" by {by}" if by else ""
        # Cut once, as a whole: a marker inside a marker would not say how much of the reason is missing.
        said = check_message(f"Abort requested{who}: {said_reason or 'No message provided'}")
        change = rules.abort_requested(reason, by, said)
        job_id = check_id(job_id)
        if self._changed(job_id, change):  # observed when a queued job ends aborted here
            return True
        job = self._read(job_id, 0)
        return job is not None and job.status is JobStatus.ABORTING

    def is_abort_requested(self, job_id: str) -> bool:
        """True once an abort was requested (also after the job ended ``aborted``)."""
        return self.get_status(job_id) in (JobStatus.ABORTING, JobStatus.ABORTED)

    def mark_aborted(self, job_id: str) -> bool:
        """``aborted``, with the warning ``Job aborted``."""
        return self._changed(check_id(job_id), rules.aborted)

    def heartbeat(self, job_id: str, owner: str | None = None) -> bool:
        """Say the process running the job is alive, even if the job reports nothing for a while."""
        if owner is not None:
            check_text(owner, "owner")
        return self._change(check_id(job_id), rules.beating(owner), emit=False)

    def cleanup_past_jobs(self, job_type: str | None = None) -> int:
        """Delete finished jobs of a type (all types if None); returns how many went."""
        if job_type is not None:
            check_text(job_type, "job_type")
        return len(self._delete_past(job_type))

    def delete_jobs(self, job_ids: Iterable[str]) -> list[str]:
        """Delete these finished jobs (with their messages and saved values; a ``removed`` event each), in one
        atomic step; an active job, or an id no job has, is left alone. Returns the ids deleted, in the order
        given. At most 1,000 ids per call."""
        wanted = list(dict.fromkeys(check_id(job_id) for job_id in job_ids))
        if len(wanted) > 1000:
            raise InvalidArgumentError(f"delete_jobs takes at most 1000 ids per call, got {len(wanted)}")
        if not wanted:
            return []
        gone = set(self._delete_jobs(wanted))
        return [job_id for job_id in wanted if job_id in gone]

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        """Delete those of ``job_ids`` that are past jobs, atomically; record ``removed`` events; their ids."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete jobs by id")

    # ------------------------------------------------------------------ staleness

    def stale_reason(self, job: JobInfo, now: float | None = None, *, alive_owner: str | None = None) -> str | None:
        """Why ``job`` counts as stale now, or None if it does not. Tells a silent process from a dead one, and
        (when the asking process is the job's owner, ``alive_owner``) a store it could not reach from both.

        A ``queued`` job is never stale: no process runs it yet, and waiting for a free worker is normal. Whether
        the task engine lost it is for the engine to say (:meth:`fail_lost`, called by the runner's reaper) -- and
        one waiting for its next attempt (``retry_at`` set) is with no engine at all until it is due.
        """
        return _staleness.stale_reason(job, time.time() if now is None else now, self.stale_after, alive_owner)

    def reap_stale(self, now: float | None = None, *, alive_owner: str | None = None,
                   requeue: Mapping[str, int] | None = None) -> list[str]:
        """Fail every stale active job, each exactly once even with several reapers; returns their ids.
        ``alive_owner``: the calling process's owner token, so that its own jobs are not blamed on a dead
        process.

        ``requeue`` maps job types to how many times a job of that type goes back to the queue instead: a
        ``running`` job a task engine's worker claimed (it has a ``queued_time``) whose worker stopped sending
        heartbeats becomes ``queued`` again, same id, ``attempt`` one higher, with a warning naming the dead
        worker, while ``attempt`` is at most the type's number; then it is failed as any other. The ids of
        re-queued jobs are returned too (their status tells them apart); the caller hands them to the engine.
        A job whose process is alive (``alive_owner``) or that was asked to abort is never re-queued."""
        reaped = []
        change = _staleness.reaping(self.stale_after, now, alive_owner, requeue)
        for candidate in self.get_active_jobs(messages=False):
            if self.stale_reason(candidate, now, alive_owner=alive_owner) is None:
                continue
            try:
                if self._changed(candidate.id, change, reaped=True):
                    reaped.append(candidate.id)
            except JobNotFoundError:
                continue
        return reaped

    def fail_lost(self, job_id: str, reason: str) -> bool:
        """Fail a ``queued`` job that its task engine no longer holds (``reason`` says so); exactly once, and
        only while it is still queued (a worker may have claimed it meanwhile) and not waiting for its next
        attempt (``retry_at`` set: no engine holds it until it is due, by design). True if it was failed."""
        change = rules.failing_lost(check_message(reason, "reason"))
        try:
            return self._changed(check_id(job_id), change)
        except JobNotFoundError:
            return False

    # ------------------------------------------------------------------ events

    def read_events(self, after: str | None = None, limit: int = 1000) -> EventBatch:
        """Events after ``after`` (an event id); ``after=None`` returns only the current cursor."""
        return self._read_events(after, limit)

    def wait_events(self, after: str | None, timeout: float) -> EventBatch:
        """Like :meth:`read_events` but blocks up to ``timeout`` seconds for something to happen."""
        return self._wait_events(after, timeout)

    # ------------------------------------------------------------------ helpers for backends

    def _not_found(self, job_id: str) -> JobNotFoundError:
        # A lookup that found nothing by an id no job can have (a NUL in it) is the caller's mistake: raised here,
        # so that the paths that skip check_id for speed (and backends' own lookups) answer as the checked ones do.
        check_id(job_id)
        return JobNotFoundError(
            job_id, f"it may have been removed by cleanup or evicted: max_past_jobs={self.max_past_jobs}")

    def _expired_before(self, now: float) -> float | None:
        """End time before which past jobs are evicted by age, if an age limit is set."""
        return now - self.max_past_age if self.max_past_age is not None else None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ retries and saved values (issue 21)

    def schedule_retry(self, job_id: str, at: float, *, attempt: int, message: str) -> bool:
        """Put a ``running`` job whose run ``attempt`` failed back in the queue until ``at`` (POSIX seconds),
        atomically and only if that run is still the job's current one (``attempt`` equals the job's): status
        ``queued`` with ``retry_at = at``, ``attempt`` one higher, owner and heartbeat cleared, ``queued_time``
        now; its progress, current operation and messages stay (progress never moves backwards), ``message``
        (e.g. ``attempt 2 of 5 failed: RateLimitError: 429; retrying in 58 s``) is added as a warning. Observers
        see a :class:`Transition` with ``retried``.

        An abort wins over a retry: a job ``aborting`` (of that attempt) ends ``aborted`` here instead, and the
        call returns False -- as it does for a job already terminal or of another attempt."""
        due = as_timestamp(at, "at")
        if due is None or not math.isfinite(due):
            raise InvalidArgumentError(f"at must be the time of the next attempt, got {at!r}", "at")
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise InvalidArgumentError(f"attempt must be a whole number >= 1, got {attempt!r}", "attempt")
        message = check_message(message, "message")
        retried: list[bool] = []
        try:
            done = self._changed(check_id(job_id), rules.retrying(due, attempt, message, retried), retried=True)
        except JobNotFoundError:
            return False
        return done and bool(retried)

    def claim_retry_dispatch(self, job_id: str, retry_at: float) -> bool:
        """For jobs run by a task engine: clear ``retry_at`` of a ``queued`` job whose ``retry_at`` still equals
        ``retry_at`` (compare-and-set, atomically), so that of several processes that found the retry due
        (:meth:`due_retries`) exactly one hands it to the engine: the one this returns True to. Its ``queued_time``
        becomes now: from here on it waits for a worker, and the engine is asked about it only once it has waited
        for one longer than ``stale_after`` (the backoff before is no engine's to account for)."""
        if isinstance(retry_at, bool) or not isinstance(retry_at, int | float):
            raise InvalidArgumentError(f"retry_at must be the job's retry_at (POSIX seconds), got {retry_at!r}",
                                       "retry_at")
        try:
            return self._change(check_id(job_id), rules.dispatching(retry_at), emit=True)
        except JobNotFoundError:
            return False

    def due_retries(self, now: float | None = None, job_types: Iterable[str] | None = None) -> list[JobInfo]:
        """``queued`` jobs (heads, no messages) whose next attempt is due: ``retry_at <= now``, earliest first,
        of ``job_types`` (None: any). Read from the active list, which is small."""
        when = as_timestamp(now, "now")
        until = time.time() if when is None else when
        types = None if job_types is None else frozenset(job_types)
        due = [j for j in self.get_active_jobs(messages=False)
               if j.status is JobStatus.QUEUED and j.retry_at is not None and j.retry_at <= until
               and (types is None or j.job_type in types)]
        due.sort(key=lambda j: (j.retry_at or 0.0, j.id))
        return due

    def save_value(self, job_id: str, key: str, value: Any) -> bool:
        """Keep ``value`` (JSON) for the job under ``key`` (a non-empty string of at most 200 characters, no
        NUL), replacing what the key held; written at once and durably. False if the job already finished (nothing
        saved). InvalidArgumentError, stating the sizes, when the job's saved values would exceed
        ``max_saved_bytes`` (1 MiB by default). Keys starting with ``jobdeck.`` are jobdeck's own."""
        key = check_key(key)
        text = dumps_text(check_json(value, "value"))
        return self._save_checked(check_id(job_id), {key: text})

    def save_values(self, job_id: str, values: Mapping[str, Any]) -> bool:
        """:meth:`save_value` for several keys in one atomic write (the controller's batch of done operations)."""
        texts = {check_key(key): dumps_text(check_json(value, "value")) for key, value in values.items()}
        return self._save_checked(check_id(job_id), texts) if texts else True

    def saved_values(self, job_id: str) -> dict[str, Any]:
        """Every value the job saved (jobdeck's own ``jobdeck.`` keys included), by key."""
        found = self._saved_steps().values(check_id(job_id))
        if found is None:
            raise self._not_found(job_id)
        return {k: loads_stored(v) for k, v in found.items()}

    def saved_keys(self, job_id: str) -> list[str]:
        """The keys of the job's saved values, sorted, without jobdeck's own (``jobdeck.`` ...): the single view's
        ``savedKeys``. Values are not read."""
        found = self._saved_steps().keys(check_id(job_id))
        if found is None:
            raise self._not_found(job_id)
        return shown(found)

    def copy_saved(self, from_job_id: str, to_job_id: str) -> bool:
        """Give ``to_job_id`` every value ``from_job_id`` saved (jobdeck's own included), in one atomic step: a job
        resumed by hand starts with them. False if ``to_job_id`` already finished; the size bound applies."""
        found = self._saved_steps().values(check_id(from_job_id, "from_job_id"))
        if found is None:
            raise self._not_found(from_job_id)
        check_id(to_job_id, "to_job_id")
        if not found:
            target = self._read(to_job_id, 0)
            if target is None:
                raise self._not_found(to_job_id)
            return not target.status.is_terminal
        return self._save_checked(to_job_id, found)

    def _save_checked(self, job_id: str, texts: dict[str, str]) -> bool:
        outcome, total = self._saved_steps().save(job_id, texts, self.max_saved_bytes)
        if outcome is Saving.FULL:
            size = sum(text_bytes(t) for t in texts.values())
            raise too_large(job_id, sorted(texts), size, total, self.max_saved_bytes)
        return outcome is Saving.SAVED

    # ------------------------------------------------------------------ schedules (issue 23)

    def _schedule_steps(self) -> _schedules.ScheduleSteps:
        """The backend's storage of schedules (:class:`~jobdeck.stores._schedules.ScheduleSteps`), in a module of
        its own beside the backend's. A store no other process sees keeps them in memory."""
        if self.shared:
            raise NotImplementedError(f"{type(self).__name__} cannot keep schedules")
        return self._memory_schedules

    def schedules(self) -> list[Schedule]:
        """Every schedule in the store, by id (:mod:`jobdeck.core.schedule_state`)."""
        return _schedules.read_all(self._schedule_steps())

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        return _schedules.read(self._schedule_steps(), schedule_id)

    def add_schedule(self, schedule: Schedule) -> bool:
        """Add ``schedule``; False (nothing written) if one with its id exists."""
        return _schedules.add(self._schedule_steps(), schedule)

    def update_schedule(self, schedule_id: str, change: Callable[[Schedule], Schedule | None]) -> Schedule | None:
        """Compare-and-set (atomically, across processes): ``change(schedule)`` is written only if no one else
        wrote the schedule since it was read, else computed again from what they wrote. What was written, or None
        (``change`` declined, or no such schedule). The scheduler's exactly-once rests on this step."""
        return _schedules.update(self._schedule_steps(), schedule_id, change)

    def delete_schedule(self, schedule_id: str) -> bool:
        return _schedules.delete(self._schedule_steps(), schedule_id)
    # ------------------------------------------------------------------ the worker registry (issue 22)

    def beat_worker(self, worker: WorkerInfo, now: float | None = None) -> None:
        """Record that ``worker`` (a process that runs jobs) is alive now, with what it runs: its record is replaced
        and ``last_seen`` set; records not seen for :data:`~jobdeck.core.workers.WORKER_RETENTION` go."""
        check_text(worker.id, "worker id")
        seen = time.time() if now is None else now
        record = dumps_text(dataclasses.replace(worker, last_seen=seen).to_record())
        self._worker_steps().put(worker.id, seen, record, seen - WORKER_RETENTION)

    def forget_worker(self, worker_id: str) -> None:
        """Remove the record of a worker that stops cleanly (one killed is shown as gone, then dropped)."""
        self._worker_steps().drop(check_text(worker_id, "worker id"))

    def get_workers(self, now: float | None = None) -> list[WorkerInfo]:
        """Every worker seen within :data:`~jobdeck.core.workers.WORKER_RETENTION`, most recently started first;
        whether each is live is :meth:`WorkerInfo.live <jobdeck.core.workers.WorkerInfo.live>` with this store's
        ``stale_after``. One small read, whatever the number of jobs."""
        since = (time.time() if now is None else now) - WORKER_RETENTION
        known, decoded = self._decoded_workers, {}
        for text in self._worker_steps().read(since):
            worker = known.get(text)  # unchanged since the last read (between two heartbeats): not decoded again
            if worker is None:
                try:
                    worker = WorkerInfo.from_record(orjson.loads(text))
                except (TypeError, ValueError, KeyError, AttributeError):  # one damaged record hides no other
                    logger.warning("ignored a damaged worker record: %.200r", text)
                    continue
            decoded[text] = worker
        self._decoded_workers = decoded  # only what this read found: bounded by the registry's size
        found = list(decoded.values())
        found.sort(key=lambda w: (-w.started_time, w.id))
        return found

    def add_schedule_observer(self, fn: Callable[[ScheduleOutcome], None]) -> None:
        """Call ``fn(outcome)`` for each occurrence a scheduler using this store object started, skipped or found
        missed (metrics count there): the process whose compare-and-set won reports it, once across processes."""
        self._schedule_observers.append(fn)

    def remove_schedule_observer(self, fn: Callable[[ScheduleOutcome], None]) -> None:
        if fn in self._schedule_observers:
            self._schedule_observers.remove(fn)

    def schedule_observed(self, outcome: ScheduleOutcome) -> None:
        """What the scheduler calls (:mod:`jobdeck.runtime.scheduling`); an observer's exception is logged."""
        for fn in list(self._schedule_observers):
            try:
                fn(outcome)
            except Exception:
                logger.exception("a schedule observer failed on %s", outcome)
