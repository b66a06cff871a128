"""Jobs run on procrastinate's workers: PostgreSQL holds the queue, jobdeck's store stays the record.

    runner = JobRunner(store, executor="procrastinate+postgresql://db.internal:5432/app")  # the server enqueues
    # each worker machine:  jobdeck worker --app myproject.jobs:runner --executor procrastinate+postgresql://...

or with your own procrastinate app (its connector, tasks and settings stay yours)::

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))
    runner = JobRunner(store, executor=ProcrastinateExecutor(app))

jobdeck registers one task on the app, ``jobdeck.run_job(job_id=..., trace=...)``, whose body is
:meth:`JobRunner.run_job <jobdeck.JobRunner.run_job>` (``trace``, with tracing on: the starting request's trace
context, kept in the queue row with the job id). How each guarantee maps onto procrastinate:

- One queue entry per job: its ``queueing_lock`` is ``jobdeck:<job id>``. A type with ``max_concurrent == 1``
  also gets ``lock = jobdeck:<type>``, so procrastinate never runs two of them at once even if the store's own
  atomic check were bypassed: a second guard, not the first.
- Aborting a queued job cancels its entry (procrastinate's ``cancel_job_by_id``); a worker that fetched it
  anyway drops it, because it only runs a job it can move from ``queued`` to ``running`` itself.
- Aborting a running job is cooperative as everywhere (``check_abort()``). Only once jobdeck has given up on
  the handler (``abort_grace`` expired, or its timeout) does the worker use procrastinate's abort
  (``cancel_job_by_id(abort=True)``), which cancels the task and frees the worker's slot.
- Liveness has one judge: jobdeck's heartbeats (owner ``host:pid:token``) and its stale reaper decide that a
  job's worker died, and the failure names that worker. procrastinate's worker heartbeats follow the store's
  ``stale_after``; its stalled entries (a worker that stopped heartbeating) are only closed once jobdeck has
  ended their job, which releases their ``lock``. A stalled entry is never retried by procrastinate: a type
  registered with ``requeue_on_worker_lost=N`` is re-queued by jobdeck's reaper instead, which closes the dead
  run's entry (releasing its ``lock``) and defers a new one for the same job.

First use: the first query of a process opens the executor's pool and applies procrastinate's schema to a database
that lacks it (``procrastinate_jobs`` missing), once per process (other threads wait for it, bounded) and once
per database (under a transaction-level advisory lock, waited for at most ``SCHEMA_LOCK_TIMEOUT`` seconds):
:mod:`._procrastinate_setup`. An existing schema is never changed: upgrading procrastinate across a schema change
means applying its migrations.

What this relies on beyond procrastinate's documented API (the ``procrastinate`` extra pins ``>=3.5,<4``;
tested with 3.10.0), and the tests that would catch a change:

- its tables: ``procrastinate_jobs`` (``id``, ``status`` with ``todo``/``doing``, ``task_name``, ``args`` with
  the ``job_id`` key, ``worker_id``, ``lock``, ``queueing_lock``, ``queue_name``) and ``procrastinate_workers``
  (``id``, ``last_heartbeat``), and the function ``procrastinate_finish_job_v1(id, status, delete_job)``, read and
  called by ``_live``/``lost``/``close_stalled``/``resubmit``: ``tests/executors/test_procrastinate.py`` (entries,
  cancel, lost jobs, a dead fetch closed and deferred again) and ``tests/engines/test_procrastinate.py``
  (``test_5``, ``test_5b``: a killed worker's entry closed, a re-queued job's new entry);
- ``SchemaManager.get_schema()`` as one SQL script that a connector's ``execute_query`` runs with ``%`` doubled, as
  procrastinate's own ``apply_schema`` does: ``test_ensure_schema_applies_it_once`` and the first-use tests there,
  and ``tests/engines/test_procrastinate_setup.py``;
- ``App.open(pool)`` handing our pool to the synchronous connector, and ``PsycopgConnector``'s query methods and
  ``listen_notify``, which ``_procrastinate_connector.PatientConnector`` overrides, with psycopg's errors as the
  ``__cause__`` of ``ConnectorException``: ``tests/engines/test_procrastinate_outage.py``;
- ``App.run_worker_async``'s options (``install_signal_handlers``, ``shutdown_graceful_timeout``,
  ``update_heartbeat_interval``, ``stalled_worker_timeout``, ``abort_job_polling_interval``,
  ``fetch_job_polling_interval``) and a cancelled task ending its entry ``aborted``: ``tests/engines/
  test_procrastinate.py`` (``test_3b``, ``test_6``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ..core.errors import ExecutorError, JobdeckError, JobNotFoundError
from ..core.model import JobInfo, JobStatus
from ..core.urls import TEXT, split_options
from ..core.urls import redact_url as redact
from ..runtime.tracing import trace_carrier
from ._procrastinate_setup import Setup
from .base import Executor

if TYPE_CHECKING:
    import procrastinate

    from ..core.jobtype import JobType

__all__ = ["ProcrastinateExecutor"]

logger = logging.getLogger("jobdeck.executors.procrastinate")

TASK_NAME = "jobdeck.run_job"
DEFAULT_QUEUE = "jobdeck"
SCHEMES = ("procrastinate+postgresql", "procrastinate+postgres")
# How long applying procrastinate's schema waits for another process that is applying it (normally well under a
# second); past that, the setup fails with a clear error and the next use tries again.
SCHEMA_LOCK_TIMEOUT = 10.0

# Waiting or running entries of jobdeck's task, by job id. procrastinate's partial index on (id, lock) for
# todo/doing rows bounds the scan to the live queue, however long the table's history grows.
_LIVE_ENTRIES = """
SELECT id, status::text AS status, args->>'job_id' AS job_id
  FROM procrastinate_jobs
 WHERE task_name = %(task_name)s AND status IN ('todo', 'doing')
   AND args->>'job_id' = ANY(%(job_ids)s::text[])
"""

# Running entries of jobdeck's task whose procrastinate worker stopped heartbeating (or was pruned).
_STALLED_ENTRIES = """
SELECT job.id, job.args->>'job_id' AS job_id
  FROM procrastinate_jobs job
  LEFT JOIN procrastinate_workers worker ON worker.id = job.worker_id
 WHERE job.task_name = %(task_name)s AND job.status = 'doing'
   AND (worker.id IS NULL OR worker.last_heartbeat < NOW() - make_interval(secs => %(seconds)s))
"""

_CLOSE_ENTRY = "SELECT procrastinate_finish_job_v1(%(id)s, 'failed', false)"


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """``procrastinate+postgresql://user@host:5432/db?queue=q`` -> (``postgresql://user@host:5432/db``, options).

    jobdeck's own options (``queue``) are taken out; the others stay in the connection string (``sslmode``...).
    """
    if not isinstance(url, str) or "://" not in url:
        raise ExecutorError(f"executor URL {url!r} is not a URL; use procrastinate+postgresql://host:5432/db")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ExecutorError(f"not a procrastinate executor URL: {redact(url)!r} "
                            "(use procrastinate+postgresql://host:5432/db)")
    if not parts.path.strip("/"):
        raise ExecutorError(f"executor URL {redact(url)!r} names no database "
                            "(procrastinate+postgresql://host:5432/DBNAME)")
    rest, ours = split_options(url, {"queue": TEXT}, label="procrastinate executor", error=ExecutorError)
    return urlunsplit(urlsplit(rest)._replace(scheme="postgresql", fragment="")), ours


def same_database(url: str, other: str) -> bool:
    """Whether two PostgreSQL URLs name the same database (host, port and database name as written)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        one, two = conninfo_to_dict(url), conninfo_to_dict(other)
    except Exception:
        return False

    def key(info: dict[str, Any]) -> tuple[str, str, str]:
        return (str(info.get("host") or "localhost"), str(info.get("port") or "5432"), str(info.get("dbname") or ""))

    return key(one) == key(two) and bool(key(one)[2])


def _detail(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


class ProcrastinateExecutor(Executor):
    """Hands jobs to procrastinate's workers through PostgreSQL; the module docstring maps the guarantees."""

    name: ClassVar[str] = "procrastinate"
    runs_in_process: ClassVar[bool] = False

    def __init__(self, app: procrastinate.App | None = None, *, dsn: str | None = None,
                 queue: str = DEFAULT_QUEUE, connect_timeout: float = 3.0) -> None:
        if (app is None) == (dsn is None):
            raise ExecutorError("give ProcrastinateExecutor either a procrastinate App or a dsn, not both or neither")
        if not isinstance(queue, str) or not queue:
            raise ExecutorError(f"queue must be a non-empty string, got {queue!r}")
        try:
            import procrastinate

            from ._procrastinate_connector import PatientConnector
        except ImportError as exc:
            raise ExecutorError("the procrastinate executor needs procrastinate and psycopg: "
                                f"pip install 'jobdeck[procrastinate]' ({exc})") from None
        self.queue = queue
        self.connect_timeout = connect_timeout
        self.dsn = dsn
        if app is None:
            app = procrastinate.App(connector=PatientConnector(conninfo=dsn, min_size=1, max_size=4,
                                                               kwargs=self.connect_kwargs()))
        self.app: procrastinate.App = app
        # Read here, not at import: a test (or an operator) may set the module's SCHEMA_LOCK_TIMEOUT first.
        self._setup = Setup(self, lock_timeout=SCHEMA_LOCK_TIMEOUT)
        #: The worker's event loop while ``run_worker`` runs: queries from other threads are sent there.
        self.loop: asyncio.AbstractEventLoop | None = None
        from ._procrastinate_worker import register_task

        self.task, self.running = register_task(self)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ProcrastinateExecutor:
        """The executor for ``procrastinate+postgresql://...``; ``?queue=NAME`` picks the queue (``jobdeck``)."""
        dsn, found = parse_url(url)
        return cls(dsn=dsn, queue=found.get("queue", DEFAULT_QUEUE), **options)

    def __repr__(self) -> str:
        where = redact(self.dsn) if self.dsn else "an application's procrastinate App"
        return f"<ProcrastinateExecutor {where} queue={self.queue!r}>"

    def connect_kwargs(self) -> dict[str, Any]:
        """psycopg's keyword arguments for this executor's connections."""
        return {"connect_timeout": max(1, round(self.connect_timeout))}

    # ------------------------------------------------------------------ reaching PostgreSQL

    def where(self) -> str:
        """The database as messages name it (never its password)."""
        return redact(self.dsn) if self.dsn else "the procrastinate app's database"

    def unavailable(self, doing: str, exc: BaseException) -> ExecutorError:
        """The one line for a database that cannot be reached while doing ``doing``."""
        return ExecutorError(f"procrastinate cannot {doing}: PostgreSQL at {self.where()} is unavailable "
                             f"({_detail(exc)})")

    def _run(self, sync_call: Callable[[Any], Any], async_call: Callable[[Any], Any]) -> Any:
        """Run one database call: on the worker's loop when a worker runs (its pool lives there), else on the
        synchronous connector. Must not be called from the worker's loop itself."""
        loop = self.loop
        if loop is None:
            return sync_call(self._setup.connector())
        future = asyncio.run_coroutine_threadsafe(async_call(self.app.connector), loop)
        try:
            return future.result(timeout=max(5.0, 3 * self.connect_timeout))
        except TimeoutError:
            future.cancel()
            raise

    def _query_all(self, query: Any, **arguments: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._run(lambda c: c.execute_query_all(query=query, **arguments),
                                               lambda c: c.execute_query_all_async(query=query, **arguments))
        return rows

    def _cancel_entry(self, entry: int, abort: bool) -> bool:
        manager = self.app.job_manager
        done: bool = self._run(lambda _c: manager.cancel_job_by_id(entry, abort=abort),
                               lambda _c: manager.cancel_job_by_id_async(entry, abort=abort))
        return done

    def _close_entry(self, entry: int) -> bool:
        try:
            self._run(lambda c: c.execute_query(query=_CLOSE_ENTRY, id=entry),
                      lambda c: c.execute_query_async(query=_CLOSE_ENTRY, id=entry))
        except Exception as exc:  # another worker closed it first
            logger.debug("procrastinate entry %s not closed: %s", entry, _detail(exc))
            return False
        return True

    def ensure_schema(self) -> bool:
        """Apply procrastinate's schema if its tables are missing (True if applied now). Under an advisory lock,
        so that a server and workers starting together apply it once. ExecutorError if PostgreSQL is unreachable.
        The first use of the database does it too, so that the two commands of the demo just work."""
        self._setup.connector()
        return self._setup.schema_applied

    # ------------------------------------------------------------------ the seam: server side

    def submit(self, job: JobInfo, job_type: JobType, connection: Any = None) -> None:
        """Enqueue ``job``. With ``connection`` (psycopg, inside a transaction on the same database) the entry is
        written in that transaction, so it exists exactly when the transaction that created the job commits."""
        options: dict[str, Any] = {"queue": self.queue, "queueing_lock": f"jobdeck:{job.id}"}
        if job_type.max_concurrent == 1:
            options["lock"] = f"jobdeck:{job_type.name}"
        if connection is not None:
            options["connection"] = connection
        elif self.loop is None:
            self._setup.connector()
        # The trace context is an argument of the task: it lives in the queue row, through retries and restarts.
        carrier = trace_carrier()
        arguments: dict[str, Any] = {"job_id": job.id, **({"trace": carrier} if carrier else {})}
        try:
            if self.loop is None or connection is not None:
                self.task.configure(**options).defer(**arguments)
            else:
                deferrer = self.task.configure(**options)
                self._run(lambda _c: None, lambda _c: deferrer.defer_async(**arguments))
        except Exception as exc:
            raise self.unavailable("enqueue the job", exc) from None

    def create_and_submit(self, create: Callable[[], JobInfo], job_type: JobType) -> JobInfo | None:
        """Create the job and its queue entry in one transaction when the store is a PostgreSQL store on this
        executor's database (no job without its entry, no entry without its job); None when they do not share
        one, and the runner creates and submits in two steps."""
        store = self.runner.store
        using = getattr(store, "using", None)
        if using is None or self.dsn is None or not same_database(getattr(store, "url", ""), self.dsn):
            return None
        self._setup.connector()
        try:
            with self._setup.pool.connection() as conn, conn.transaction(), using(conn):
                job = create()
                self.submit(job, job_type, connection=conn)
        except JobdeckError:
            raise  # the type is full (409), the queue refused (503): nothing was created
        except Exception as exc:
            raise self.unavailable("create and enqueue the job", exc) from None
        return job

    def resubmit(self, job: JobInfo, job_type: JobType) -> None:
        """Close the entry of the dead run (still ``doing``, holding the type's ``lock``), then enqueue anew."""
        for row in self._query_all(_LIVE_ENTRIES, task_name=TASK_NAME, job_ids=[job.id]):
            if row["status"] == "doing":
                self._close_entry(row["id"])
        try:
            self.submit(job, job_type)
        except ExecutorError:
            if self._live([job.id]).get(job.id, (0, ""))[1] != "todo":
                raise
            # a worker closing the dead entry (close_stalled) gave the job its new entry first

    def _live(self, job_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """job id -> (procrastinate id, ``todo``/``doing``) of the entries still waiting or running."""
        if not job_ids:
            return {}
        rows = self._query_all(_LIVE_ENTRIES, task_name=TASK_NAME, job_ids=list(job_ids))
        return {row["job_id"]: (row["id"], row["status"]) for row in rows}

    def cancel(self, job_id: str) -> None:
        """procrastinate's cancel for the entry of a job aborted while queued; a worker that already fetched it
        drops it. Best effort: never raises."""
        try:
            entry = self._live([job_id]).get(job_id)
            if entry is not None and entry[1] == "todo":
                self._cancel_entry(entry[0], abort=False)
        except Exception:
            logger.warning("could not cancel the procrastinate entry of job %s; a worker will drop it", job_id,
                           exc_info=True)

    def escalate(self, job_id: str) -> bool:
        """procrastinate's abort for the task of a job whose handler jobdeck gave up on (``abort_grace`` expired):
        the worker cancels the task, which frees its slot and the type's ``lock``. True if an entry was aborted."""
        entry = self._live([job_id]).get(job_id)
        return entry is not None and entry[1] == "doing" and self._cancel_entry(entry[0], abort=True)

    def lost(self, jobs: Sequence[JobInfo]) -> dict[str, str]:
        """Of these long-queued jobs, those with no waiting or running entry in procrastinate any more."""
        try:
            live = self._live([job.id for job in jobs])
        except Exception as exc:  # PostgreSQL unreachable: nothing can be said, and waiting is normal
            logger.warning("cannot ask procrastinate about queued jobs: %s", _detail(exc))
            return {}
        return {job.id: f"its procrastinate entry in queue {self.queue!r} is gone (cancelled, deleted or finished "
                        "without running it)" for job in jobs if job.id not in live}

    def close_stalled(self, stalled_after: float) -> list[str]:
        """Close (as failed, never retried by procrastinate) the running entries whose procrastinate worker
        stopped heartbeating ``stalled_after`` seconds ago, once jobdeck no longer counts their job as running
        (its own reaper judges the job: the entry is only the queue's memory of it). Releases their ``lock``.

        A job still ``queued`` behind such an entry never started under it (its worker died between fetching and
        claiming it) or was re-queued by the reaper: it gets a new entry, so that it is not left waiting for one
        that will never run (a second one is refused by the ``queueing_lock`` if the reaper's came first).
        Returns the job ids of the closed entries."""
        closed = []
        for row in self._query_all(_STALLED_ENTRIES, task_name=TASK_NAME, seconds=float(stalled_after)):
            job = self._head(row["job_id"])
            if job is not None and job.is_active and job.status is not JobStatus.QUEUED:
                continue  # jobdeck's heartbeats say the job lives, or its reaper has not ruled yet
            if not self._close_entry(row["id"]):
                continue
            closed.append(row["job_id"])
            if job is not None and job.status is JobStatus.QUEUED:
                try:
                    self.submit(job, self.runner.get_type(job.job_type))
                except JobdeckError as exc:  # already queued again, or the type is unknown here
                    logger.info("job %s: no new procrastinate entry (%s)", job.id, exc)
        return closed

    def _head(self, job_id: str | None) -> JobInfo | None:
        """The job without its messages (a worker's chores only look at its status and times), None if unknown."""
        if not job_id:
            return None
        try:
            return self.runner.store.require_job(job_id, messages=False)
        except JobNotFoundError:
            return None

    # ------------------------------------------------------------------ the seam: worker side

    def run_worker(self, *, concurrency: int | None = None, grace: float = 30.0, loglevel: str = "INFO") -> int:
        """procrastinate's worker on this executor's queue, ``concurrency`` jobs at once (default 4); see
        :mod:`jobdeck.executors._procrastinate_worker` for the drain on SIGTERM."""
        from ._procrastinate_worker import run_worker

        return run_worker(self, concurrency=concurrency or 4, grace=grace)

    def shutdown(self, grace: float = 10.0) -> None:
        """Release the synchronous pool (the worker's own pool closes with its event loop)."""
        self._setup.close()
