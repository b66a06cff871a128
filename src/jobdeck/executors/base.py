"""The executor contract: how a :class:`~jobdeck.JobRunner` gets a job's handler run, here or on a task engine.

    runner = JobRunner(store)                                       # LocalExecutor: a thread per job, here
    runner = JobRunner(store, executor=CeleryExecutor(celery_app))  # queued, run by Celery's workers

Like the stores, the seam is small and the runner owns the rules. An executor only moves a job id:

- ``submit(job, job_type)`` hands a job to the engine. With ``runs_in_process`` False the runner created the job
  ``queued`` (it counts toward ``max_concurrent`` at once) and, if ``submit`` raises, fails it and raises
  :class:`~jobdeck.EnqueueError` (the API answers 503): a job is never left queued by a failed enqueue.
- A worker of the engine calls :meth:`JobRunner.run_job(job_id) <jobdeck.JobRunner.run_job>` -- the one
  worker-side entry point every engine's task uses. It claims the job (``queued -> running``, atomically, with
  the worker's ``host:pid:token`` as owner) or drops it if it is no longer queued (aborted while waiting,
  claimed by another delivery), runs the registered handler with a PipelineController on the shared store,
  heartbeats from the worker process, and brings the job to a terminal state whatever happens.
- ``cancel(job_id)`` is the engine's own cancel, best effort: the store already says ``aborted`` and a worker
  that still receives the job drops it.
- ``resubmit(job, job_type)`` hands back a job the stale reaper re-queued after its worker died (only for
  types registered with ``requeue_on_worker_lost``): by default ``submit`` again.
- ``lost(jobs)`` lets the engine say which long-queued jobs it no longer holds; the runner's reaper fails
  those (:meth:`Store.fail_lost <jobdeck.Store.fail_lost>`). Silence is never a reason: waiting is normal.
- ``run_worker(...)`` runs the engine's own worker with the runner's job types (``jobdeck worker``);
  ``shutdown(grace)`` releases the engine's connections.

The executor sees its runner through :class:`Host`, the few things an engine needs from it (the store, the owner,
``execute``, ``run_job``, the job types, supervision and shutdown), so that no module below the runner imports it.

A new engine is one module with one :class:`Executor` subclass (``from_url`` for ``jobdeck serve --executor``),
plus a line in :data:`jobdeck.executors.ENGINES`; docs/executors.md walks through one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from ..core.errors import ExecutorError
from ..core.jobtype import JobType
from ..core.model import JobInfo
from ..stores.base import Store

__all__ = ["Executor", "Host"]


class Host(Protocol):
    """What an executor needs from the runner it serves (:class:`~jobdeck.JobRunner` is one)."""

    store: Store

    @property
    def owner(self) -> str:
        """``host:pid:token`` of this process, as the jobs it runs record it."""

    @property
    def closing(self) -> bool:
        """True once the runner is shutting down: a worker then takes no new job."""

    def get_type(self, job_type: str) -> JobType:
        """The registered type; UnknownJobTypeError if there is none."""

    def execute(self, job: JobInfo, *, wait: bool, trace_parent: Any = None) -> None:
        """Run the handler of ``job`` (already ``running``, owned by this process): in a thread of its own or,
        with ``wait``, in the calling thread until it ends."""

    def run_job(self, job_id: str, trace: Mapping[str, str] | None = None, *,
                outcome: bool = True) -> JobInfo | None:
        """A worker's side: claim the queued job ``job_id`` and run its handler here; the job as it ended
        (``outcome=False``: None, without reading it back)."""

    def start_supervisor(self, *, concurrency: int | None = None, worker: bool = False) -> None:
        """Start heartbeats and the stale-job reaper (a worker does before it takes jobs, with ``worker=True`` and
        its ``concurrency``: it is then listed in the worker registry)."""

    def shutdown(self, grace: float = 10.0, reason: str = "server shutting down") -> list[str]:
        """Ask the jobs running here to stop, fail what is active after ``grace``; the ids of those failed."""


class Executor(ABC):
    """Where job handlers run. One executor serves one runner (:meth:`attach`)."""

    #: ``local``, ``celery``, ``procrastinate``: how the executor is named in messages and URLs.
    name: ClassVar[str] = ""
    #: True: handlers run in this process (jobs are created ``running``); False: on an engine's workers
    #: (jobs are created ``queued``, and the store must be shared with the workers).
    runs_in_process: ClassVar[bool] = False

    _runner: Host | None = None

    def attach(self, runner: Host) -> None:
        """Called by the runner that uses this executor (once); engines register their task here if they can."""
        if self._runner is not None and self._runner is not runner:
            raise ExecutorError(f"{self!r} already serves another JobRunner; give each runner its own executor")
        self._runner = runner

    @property
    def runner(self) -> Host:
        if self._runner is None:
            raise ExecutorError(f"{self!r} is not attached to a JobRunner: pass it as JobRunner(store, executor=...)")
        return self._runner

    @abstractmethod
    def submit(self, job: JobInfo, job_type: JobType) -> None:
        """Hand ``job`` to the engine (the job is ``queued``, or ``running`` for in-process executors).
        Raise any exception if the engine did not take it; the runner then fails the job."""

    def create_and_submit(self, create: Callable[[], JobInfo], job_type: JobType) -> JobInfo | None:
        """Create the job (``create()``) and hand it to the engine in one transaction, when the engine and the
        store share a database (no job without its queue entry, no entry without its job). Return None when they
        do not (the default): the runner then creates the job, submits it, and fails it if the submit fails.
        An exception means nothing was created."""
        return None

    def resubmit(self, job: JobInfo, job_type: JobType) -> None:
        """Hand the engine a job that went back to the queue because the worker running it died (its type's
        ``requeue_on_worker_lost``). The default submits it again; an engine still holding the dead run's entry
        releases it first. Raise if the engine did not take it; the runner then fails the job."""
        self.submit(job, job_type)

    def cancel(self, job_id: str) -> None:
        """The engine's own cancel for a job aborted while queued, if it has one (best effort, never raises)."""

    def lost(self, jobs: Sequence[JobInfo]) -> dict[str, str]:
        """Of these ``queued`` jobs (queued longer than the store's ``stale_after``), those the engine no longer
        holds, each with a one-line reason. The default knows nothing and returns ``{}``."""
        return {}

    def run_worker(self, *, concurrency: int | None = None, grace: float = 30.0, loglevel: str = "INFO") -> int:
        """Run the engine's worker for the runner's job types until it is stopped (SIGTERM drains: running
        jobs are asked to abort and end terminal within ``grace`` seconds). Returns an exit code."""
        raise ExecutorError(f"the {self.name or type(self).__name__} executor has no workers: jobs run in the "
                            "process that starts them")

    def shutdown(self, grace: float = 10.0) -> None:
        """Release the engine's connections (the runner's shutdown calls it)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
