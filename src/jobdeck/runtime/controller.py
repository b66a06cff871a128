# Long: the controller is the one object job code talks to (progress, operations, messages, saved work, spending,
# aborts); what each part computes lives in its own module (core/pipeline.py, kept.py, spend.py, core/usage.py).
"""PipelineController: the one object job code talks to.

    with PipelineController(job.id) as ctl:
        ctl.initialize_pipeline(["data-loading", ("question-processing", 10), "saving"])
        ctl.define_sub_operations("question-processing", ["q1-pros", "q1-cons"])
        for item in items:
            ctl.check_abort()
            ...
            ctl.progress(done / total)
        ctl.info("all questions processed")

Work that is done is kept for the job's later attempts (its type's :class:`~jobdeck.Retry`) and for a job that
resumes it (:meth:`JobRunner.resume <jobdeck.JobRunner.resume>`): ``ctl.save(key, value)`` keeps a JSON value,
``ctl.saved(key)`` reads it back, and every operation (or sub-operation path) that reaches 1 is remembered as done,
so that ``ctl.is_done("question-processing/q18")`` is true in a later attempt and the pipeline marks it done when it
is declared again: the later run's progress starts from there::

    for q in questions:
        if ctl.is_done(f"questions/{q}"):
            continue
        ctl.save(f"answer:{q}", condense(q))
        ctl.update_sub_operation("questions", q, 1.0)

Leaving the ``with`` block normally completes the job; an :class:`AbortError` (from ``check_abort()``) marks it
aborted and is swallowed, because stopping on request is a normal way for a job to end; any other exception
fails the job with the exception's type and message and propagates.

A mistake in a progress, operation or message call (an unknown operation id, a sub-operation of an operation
that has none, a progress that is not a number) does not end an hour-long job: the call is skipped, the job gets
one warning message per distinct problem and the log one line, as the reference's controller does. Mistakes in
setting the pipeline up (``initialize_pipeline``, ``define_sub_operations``: bad weights, duplicate ids) still
raise at once, because nothing sensible can follow them.

A store that cannot be reached for a while does not end the job either, as long as the outage is shorter than
the store's ``stale_after`` (the window in which no other process takes the job for dead): ``check_abort()``
answers from the status it last read (so it raises :class:`AbortError` only for an abort it saw), and a progress
or message call that meets a :class:`StoreError` is skipped with one log line per outage. Past the window the
StoreError is raised, since the job's process has then been cut off for longer than anyone waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from ..core.checks import check_id, check_progress
from ..core.errors import AbortError, InvalidArgumentError, JobNotFoundError, StoreError
from ..core.jsoncodec import safe_text
from ..core.model import JobStatus, MessageType, OperationRef
from ..core.operations import HiddenOperations, OperationNode, OperationTree
from ..core.pipeline import OperationSpec, PipelineTree
from ..core.usage import Prices, Usage
from ..stores.base import Store
from .defaults import get_default_store
from .kept import KeptWork
from .limits import SharedLimit
from .spend import BUDGET_STOPPER, Spending
from .tracing import JobTrace

__all__ = ["PipelineController", "StoreContact"]

logger = logging.getLogger("jobdeck")

# check_abort() is called in tight loops; stores that answer over the network may serve it from a cache this old.
ABORT_CHECK_MAX_AGE = 0.1
# Distinct forgiven problems reported per job; past this a loop making a new mistake each turn adds no more.
MAX_PROBLEMS = 50
# A snapshot of the operation tree costs O(operations shown) and progress() may run thousands of times a second,
# so the tree rides along with a progress write when its shape or current operation changed, and otherwise at
# most this often (the job's last tree is published before it ends). The store's write coalescing then keeps
# only the newest of them per flush, as it does for progress values.
OPERATIONS_INTERVAL = 0.2
_monotonic = time.monotonic


class StoreContact:
    """When the store last answered for a job (monotonic seconds): the controller's status reads and, for a job a
    runner supervises, its heartbeats, so that a handler that checks for an abort only now and then is still
    known to be in touch. ``away()`` is how long it has not answered."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = _monotonic()

    def seen(self) -> None:
        self.at = _monotonic()

    def away(self) -> float:
        return _monotonic() - self.at


class PipelineController:
    """Reports a job's progress and messages and tells its code when to stop. Thread-safe."""

    def __init__(self, job_id: str, store: Store | None = None, *, known: bool = False,
                 contact: StoreContact | None = None, progress: float = 0.0) -> None:
        """``known=True`` skips the read that checks the job exists (for a caller that just created or claimed it,
        and so knows it ``running``). ``contact``: the clock of the job's last contact with the store, shared
        with whatever else talks to the store for it (the runner's heartbeats). ``progress``: the job's progress
        when this run began (a retried run's earlier attempts), below which it never reports."""
        self.store = store if store is not None else get_default_store()
        self.contact = contact if contact is not None else StoreContact()
        self._status = JobStatus.RUNNING  # as last read: what check_abort() answers while the store is away
        if known:
            self.job_id = check_id(job_id)
        else:
            job = self.store.require_job(job_id, messages=False)
            self.job_id, self._status = job.id, job.status
            self.contact.seen()
        self._outage: float | None = None  # monotonic time this controller first met the store away
        self._tree: PipelineTree | None = None
        self._floor = self._reported = progress if isinstance(progress, float) and 0.0 <= progress <= 1.0 else 0.0
        self._kept = KeptWork(self.job_id, self.store, self.contact)  # save(), saved(), is_done()
        self._operation: OperationRef | None = None  # as last sent (the tree hands out a new one on a change)
        self._tree_due = 0.0  # monotonic time from which the next progress write carries a new snapshot
        self._tree_sent = True  # whether the store has the tree as it is now
        self.trace: JobTrace | None = None  # set by the runner when OpenTelemetry is installed
        self.spending: Spending | None = None  # what this run spent (usage()); attach_spending() sets prices, budget
        self._nodes: tuple[OperationNode | HiddenOperations, ...] = ()  # the tree as last sent, which usage() resends
        self._usage_paths: tuple[str, ...] | None = None  # where usage() adds shares; None: work it out again
        self._lock = threading.Lock()
        self._problems: set[str] = set()

    def __repr__(self) -> str:
        return f"<PipelineController job={self.job_id}>"

    # ------------------------------------------------------------------ pipeline structure

    def initialize_pipeline(self, operations: Iterable[OperationSpec]) -> None:
        """Declare the job's operations, each ``"id"``, ``("id", weight)`` or ``{"id": ..., "weight": ...}``."""
        tree = PipelineTree(operations)
        kept = self._kept
        kept.earlier_done()  # read before the lock: it may wait for the store
        with self._lock:
            self._tree = tree
            kept.mark(tree, "")
            self._tree_due = 0.0
            self._push()

    def define_sub_operations(self, operation_id: str, sub_operations: Iterable[OperationSpec]) -> None:
        """Split an operation (``"op"`` or a path ``"op/sub"``) into weighted sub-operations."""
        self._kept.earlier_done()
        with self._lock:
            tree = self._require_tree()
            tree.define_sub_operations(operation_id, sub_operations)
            self._kept.mark(tree, operation_id.strip("/") + "/")
            self._tree_due = 0.0
            self._push()

    def _require_tree(self) -> PipelineTree:
        if self._tree is None:
            raise InvalidArgumentError("no pipeline: call initialize_pipeline([...]) first")
        return self._tree

    # ------------------------------------------------------------------ progress

    def _forgive(self, call: str, problem: str) -> None:
        """Skip a mistaken call: one warning message (and log line) per distinct problem, never an exception."""
        text = f"{call} ignored: {problem}"
        with self._lock:
            if text in self._problems or len(self._problems) > MAX_PROBLEMS:
                return
            self._problems.add(text)
            if len(self._problems) > MAX_PROBLEMS:
                text = f"more than {MAX_PROBLEMS} different progress-call mistakes; further ones are ignored silently"
        logger.warning("job %s: %s", self.job_id, text)
        try:
            self.store.add_warning_message(self.job_id, text)
        except StoreError as exc:
            self._store_away(exc, "a warning message")

    def progress(self, value: float) -> None:
        """Progress of the current (sub-)operation, or of the whole job before a pipeline is defined.

        Reaching 1 moves on to the next operation. A value that is not a number is skipped with a warning.
        """
        if type(value) is not float or not 0.0 <= value <= 1.0:  # fast path skips the full check (NaN fails too)
            try:
                value = check_progress(value)
            except ValueError as exc:
                self._forgive("progress()", str(exc))
                return
        with self._lock:
            tree = self._tree
            if tree is None:
                value = max(value, self._floor)  # an earlier attempt got further: progress never moves backwards
                self._reported = value
                try:
                    self.store.update_progress(self.job_id, value)
                except StoreError as exc:
                    self._store_away(exc, "a progress value")
                return
            if tree.progress_current(value):
                self._kept.remember(tree, self._store_away)
            self._push()

    def update_operation(self, operation_id: str, value: float) -> None:
        """Progress of any operation (not only the current one: parts may run concurrently).

        An unknown operation, or no pipeline yet, is skipped with a warning message."""
        try:
            value = check_progress(value)
            with self._lock:
                tree = self._require_tree()
                tree.set(operation_id, value)
                self._kept.remember(tree, self._store_away)
                self._push()
        except ValueError as exc:
            self._forgive(f"update_operation({operation_id!r})", str(exc))

    def update_sub_operation(self, operation_id: str, sub_operation_id: str | float, value: float | None = None
                             ) -> None:
        """``update_sub_operation("op", "sub", 0.5)``, or the two-argument form with a path:
        ``update_sub_operation("op/sub", 0.5)`` (``update_sub_operation("op", 1.0)`` updates ``op`` itself)."""
        if value is None:
            if isinstance(sub_operation_id, str):
                self._forgive("update_sub_operation()", "update_sub_operation(op, sub, value) needs a value")
                return
            self.update_operation(operation_id, sub_operation_id)
        elif not isinstance(sub_operation_id, str):
            self._forgive("update_sub_operation()", f"sub-operation id must be a string, got {sub_operation_id!r}")
        else:
            self.update_operation(f"{operation_id}/{sub_operation_id}", value)

    def next_operation(self) -> None:
        """Finish the current operation and make the next one current (skipped with a warning before a pipeline)."""
        try:
            with self._lock:
                tree = self._require_tree()
                tree.next_operation()
                self._kept.remember(tree, self._store_away)
                self._push()
        except ValueError as exc:
            self._forgive("next_operation()", str(exc))

    def _push(self) -> None:
        """Send the tree's progress to the store, with a snapshot of the tree when one is due; never lets the
        job's progress go backwards. A store away for less than the window skips the write (see the module)."""
        self._usage_paths = None  # the current operation may have moved
        try:
            self._send()
        except StoreError as exc:
            self._tree_sent = False  # the next write carries the tree again
            self._store_away(exc, "a progress value")

    def _send(self) -> None:
        tree = self._tree
        if tree is None:
            return
        value, reported = tree.progress, self._reported
        value = self._reported = reported if value < reported else value  # a comparison, not a max() call
        ref = tree.operation_ref()
        now = _monotonic()
        if (ref is None or ref is self._operation) and now < self._tree_due:
            # The hot path (progress() in a loop): same operation, no snapshot due.
            self._tree_sent = False
            self.store.update_progress(self.job_id, value)
            return
        snapshot = tree.snapshot()
        spending = self.spending
        if spending is not None and spending.recorded:
            snapshot = snapshot.with_usage(spending.total, spending.share_views())
        self._nodes = snapshot.nodes
        self._tree_due = now + OPERATIONS_INTERVAL
        self._tree_sent = True
        if ref is not None and ref is not self._operation:  # the tree hands out a new object only on a change
            self._operation = ref
            self.store.update_progress(self.job_id, value, ref, snapshot)
            if self.trace is not None:
                self.trace.operation(ref.id, ref.index, ref.total)
        else:
            self.store.update_progress(self.job_id, value, None, snapshot)

    def publish_operations(self) -> None:
        """Send the tree as it is now if the store does not have it yet, and the done marks not written yet:
        called before the job ends, so that its page shows where each operation stopped and a later attempt knows
        what finished. Never raises: the outcome that follows matters more."""
        try:
            with self._lock:
                if self._tree is not None and not self._tree_sent:
                    self._tree_due = 0.0
                    self._push()
        except Exception:  # the job ended meanwhile, or the store is unreachable
            logger.debug("job %s: last operation tree not published", self.job_id, exc_info=True)
        try:
            with self._lock:
                self._kept.flush(self._store_away)
        except Exception:
            logger.warning("job %s: the last done marks were not written", self.job_id, exc_info=True)

    # ------------------------------------------------------------------ spending

    def attach_spending(self, prices: Prices | None = None, budget: Any = None) -> None:
        """Price ``usage()`` calls with ``prices`` and stop the job past ``budget`` (a :class:`~jobdeck.Budget`);
        the runner calls it with its price table and the job's budget before the handler starts."""
        self.spending = Spending(prices, budget, self._earlier_usage)

    def usage(self, model: str, input_tokens: int = 0, output_tokens: int = 0, cost: float | None = None,
              **counters: float) -> None:
        """Record one call's use: tokens of ``model``, its ``cost`` (None: from the runner's price table; a model
        without a price leaves the cost unknown, never zero) and extra counters (``requests=1``, at most 16
        names). It adds to the job's total and to the current operation's share, and is written like a progress
        value (coalesced). Past the job's budget the job's abort is requested (``budget exceeded: ...``) and the
        handler stops at its next ``check_abort()``; one warning message is written at 80%.

        InvalidArgumentError for a bad value or a 17th counter (nothing is added then)."""
        with self._lock:
            spending = self.spending
            if spending is None:
                spending = self.spending = Spending(earlier=self._earlier_usage)
            tree = self._tree
            paths = self._usage_paths
            if paths is None:
                paths = ()
                if tree is not None:
                    top, sub = tree.current_operation(), tree.current_sub_operation()
                    if top is not None:
                        paths = (top["id"], f"{top['id']}/{sub['id']}") if sub is not None else (top["id"],)
                self._usage_paths = paths
            done = spending.record(model, input_tokens, output_tokens, cost, counters=counters, paths=paths)
            self._tree_sent = tree is None  # the next snapshot carries the operations' new shares
            try:
                self.store.update_progress(self.job_id, self._reported, None, OperationTree(self._nodes, done.total))
            except StoreError as exc:
                self._store_away(exc, "a usage record")
        if done.warning is not None:
            self.warning(done.warning)
        if done.stop is not None:
            logger.warning("job %s: %s; its abort is requested", self.job_id, done.stop)
            try:
                self.store.request_abort(self.job_id, done.stop, by=BUDGET_STOPPER)
            except StoreError as exc:
                self._store_away(exc, "the budget's abort request")

    def limit(self, name: str, concurrency: int | None = None, *, rate: float | None = None, per: float = 60.0
              ) -> SharedLimit:
        """``with ctl.limit("openai", concurrency=8):`` holds one of 8 slots shared by every job in every process on
        the store; ``rate=500, per=60`` paces the block's entries to 500 a minute across them (both may be given).
        Waiting raises AbortError at once when the job is asked to stop, and the job's current operation says
        what it waits for. See :mod:`jobdeck.runtime.limits`."""
        return SharedLimit(self, name, concurrency, rate, per)

    def show_waiting(self, text: str | None) -> None:
        """Make the job's current operation say ``text`` while it waits for a shared limit; None puts back the
        pipeline's current operation (``working`` for a job without a pipeline)."""
        with self._lock:
            tree = self._tree
            ref = tree.operation_ref() if tree is not None else None
            if text is not None:
                ref = OperationRef(text, ref.index if ref else 1, ref.total if ref else 1)
            elif ref is None:
                ref = OperationRef("working", 1, 1)
            self._operation = ref if text is None and tree is not None else None
            try:
                self.store.update_progress(self.job_id, self._reported, ref)
            except StoreError as exc:
                self._store_away(exc, "the current operation")

    def get_usage(self) -> Usage:
        """What this run recorded so far (with what the job spent before it, once the first use was recorded)."""
        with self._lock:
            return self.spending.total if self.spending is not None else Usage()

    def _earlier_usage(self) -> Usage | None:
        try:
            return self.store.require_job(self.job_id, messages=False).usage
        except (StoreError, JobNotFoundError):
            return None

    # ------------------------------------------------------------------ views

    def get_progress(self) -> float:
        """The job's overall progress as last reported."""
        return self._reported

    def get_current_operation(self) -> dict[str, Any] | None:
        """``{"id", "index", "total"}`` of the current top-level operation (index 1-based), or None."""
        with self._lock:
            return self._tree.current_operation() if self._tree else None

    def get_current_sub_operation(self) -> dict[str, Any] | None:
        with self._lock:
            return self._tree.current_sub_operation() if self._tree else None

    def get_operation_progress(self, operation_id: str) -> float:
        with self._lock:
            return self._require_tree().operation_progress(operation_id)

    def get_sub_operation_progress(self, operation_id: str, sub_operation_id: str) -> float:
        return self.get_operation_progress(f"{operation_id}/{sub_operation_id}")

    def get_sub_operations(self, operation_id: str) -> list[dict[str, Any]]:
        """``[{"id", "weight", "progress"}, ...]`` of an operation's sub-operations."""
        with self._lock:
            return self._require_tree().sub_operations(operation_id)

    def has_sub_operations(self, operation_id: str) -> bool:
        with self._lock:
            return self._require_tree().has_sub_operations(operation_id)

    # ------------------------------------------------------------------ work kept for later attempts

    def save(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) under ``key`` for this job's later attempts and for a job that resumes it,
        written at once. InvalidArgumentError for a key jobdeck keeps for itself (``jobdeck.``...), a value that is
        not JSON, or one that would take the job's saved values past the store's bound (1 MiB by default: the
        message states the sizes). A store away is waited for up to its ``stale_after``, then StoreError."""
        self._kept.save(key, value)

    def saved(self, key: str, default: Any = None) -> Any:
        """The value saved under ``key`` by this run, an earlier attempt of this job, or the job it resumes;
        ``default`` if there is none. Read from the store once per run, then from memory."""
        return self._kept.saved(key, default)

    def is_done(self, operation: str) -> bool:
        """Whether the operation ``"op"`` (or sub-operation path ``"op/sub"``, as ``update_operation`` spells it)
        reached 1 in an earlier attempt of this job, in the job it resumes, or in this run."""
        return self._kept.is_done(operation)

    # ------------------------------------------------------------------ messages

    def _text(self, call: str, message: object) -> str:
        if isinstance(message, str):
            return message
        self._forgive(call, f"message must be a string, got {type(message).__name__} (recorded as its str())")
        return str(message)

    def _message(self, kind: MessageType, level: int, message: object, add: Callable[[str, str], bool]) -> None:
        """A message of ``kind`` in the job's log (``add``, the store's method for that kind), the runner's log at
        ``level`` and the job's trace."""
        text = message if isinstance(message, str) else self._text(f"{kind.value}()", message)
        try:
            add(self.job_id, text)
        except StoreError as exc:
            self._store_away(exc, f"{'a' if kind is MessageType.WARNING else 'an'} {kind.value} message")
        logger.log(level, "job %s: %s", self.job_id, text)
        if self.trace is not None:
            self.trace.message(kind.value, text)

    def info(self, message: str) -> None:
        self._message(MessageType.INFO, logging.INFO, message, self.store.add_info_message)

    def warning(self, message: str) -> None:
        self._message(MessageType.WARNING, logging.WARNING, message, self.store.add_warning_message)

    def error(self, message: str) -> None:
        self._message(MessageType.ERROR, logging.ERROR, message, self.store.add_error_message)

    def capture_logs(self, level: int = logging.INFO) -> AbstractContextManager[None]:
        """``with ctl.capture_logs():`` -- ``logging`` records of this thread or task (and the tasks it creates)
        become this job's messages while the block runs (see :mod:`jobdeck.runtime.logcapture`)."""
        from .logcapture import capture_logs

        return capture_logs(self.store, self.job_id, level)

    # ------------------------------------------------------------------ outcome and abort

    def complete(self, result: Any = None) -> bool:
        """Finish the job successfully; ``result`` (JSON) is kept with it. False if it had already ended."""
        self.publish_operations()
        return self.store.complete_job(self.job_id, result)

    def fail(self, message: str | None = None) -> bool:
        self.publish_operations()
        return self.store.fail_job(self.job_id, message)


    def is_abort_requested(self) -> bool:
        """True once the job should stop: an abort was requested, or it was ended from outside (timeout,
        stale reaper, shutdown), so nothing the code does now will be recorded. While the store is away (for
        less than its ``stale_after``) the answer is the status last read."""
        return self._read_status() is not JobStatus.RUNNING

    def check_abort(self) -> None:
        """Raise :class:`AbortError` if the job should stop; call it between units of work. While the store is
        away (for less than its ``stale_after``) it answers from the status last read, and raises nothing else."""
        if self._read_status() is not JobStatus.RUNNING:
            try:
                reason = self.store.require_job(self.job_id, messages=False).abort_reason
            except (StoreError, JobNotFoundError):
                reason = None  # the status said enough; the reason is a detail
            raise AbortError(self.job_id, reason)

    # ------------------------------------------------------------------ the store away

    def _read_status(self) -> JobStatus:
        try:
            status = self.store.get_status(self.job_id, max_age=ABORT_CHECK_MAX_AGE)
        except StoreError as exc:
            self._store_away(exc, "the abort check")
            return self._status
        self._status = status
        self.contact.seen()
        if self._outage is not None:
            logger.warning("job %s: the store answers again after %.1fs; the job goes on", self.job_id,
                           _monotonic() - self._outage)
            self._outage = None
        return status

    def _store_away(self, exc: StoreError, what: str) -> None:
        """The store did not take or give ``what``: go on without it while the job's last contact with the store
        is younger than ``stale_after`` (one log line per outage), else raise ``exc``: other processes may have
        taken the job for dead by now, and the handler should stop."""
        away = self.contact.away()
        if away > self.store.stale_after:
            logger.error("job %s: the store has not answered for %.0fs, longer than stale_after=%gs: %s",
                         self.job_id, away, self.store.stale_after, exc)
            raise exc
        if self._outage is None:
            self._outage = _monotonic()
            logger.warning("job %s: the store is unreachable (%s); the job goes on and %s was skipped, for up to "
                           "%.0fs more (stale_after=%gs)", self.job_id, exc, what, self.store.stale_after - away,
                           self.store.stale_after)

    def __enter__(self) -> PipelineController:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None:
            self.complete()
            return False
        if isinstance(exc, AbortError):
            self.publish_operations()
            self.store.mark_aborted(self.job_id)
            return True
        self.fail(safe_text(f"{type(exc).__name__}: {exc}"))
        return False
