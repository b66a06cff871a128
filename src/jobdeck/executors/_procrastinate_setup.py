"""The procrastinate executor's first use of its database: the pool, the app's connector and procrastinate's schema.

The first query of a process opens the executor's pool and applies procrastinate's schema to a database that lacks
it (``procrastinate_jobs`` missing), once per process and once per database:

- once per process: one thread sets up under a lock; the others wait for it, bounded (the setup's own bounds:
  opening the pool, a query, the schema lock, and a margin), and share its outcome -- a setup that just failed is
  the same answer for every thread that waited for it, not another wait each;
- once per database: the schema is applied behind a transaction-level advisory lock, sent as ONE multi-statement
  query with the schema, so that the lock is released when that transaction ends -- committed, rolled back, or the
  connection lost -- and can never outlive the call (a session lock taken on one pooled connection and released on
  another once stayed with an idle connection, and every later setup waited for it for ever). The lock is waited
  for at most ``lock_timeout`` seconds; past that, the setup fails with a clear error and the next use tries again.

An existing schema is never changed: upgrading procrastinate across a schema change means applying its migrations.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from ..core.errors import ExecutorError

if TYPE_CHECKING:
    from .procrastinate import ProcrastinateExecutor

__all__ = ["Setup"]

# The executor's logger: operators (and tests) find "applied procrastinate's schema" under the executor's name.
logger = logging.getLogger("jobdeck.executors.procrastinate")

_SCHEMA_LOCKED = ("SET LOCAL lock_timeout = '{timeout}ms';\n"
                  "SELECT pg_advisory_xact_lock(hashtext('jobdeck.procrastinate.schema'));\n")
_SCHEMA_FOUND = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS found"
_LOCK_NOT_AVAILABLE = "55P03"


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the PostgreSQL error behind ``exc`` (procrastinate wraps psycopg's errors), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "sqlstate", None)
        if isinstance(code, str):
            return code
        seen = seen.__cause__ or seen.__context__
    return None


class Setup:
    """One executor's first-time setup (see the module docstring): :meth:`connector` sets up on first use and
    returns the synchronous connector; :meth:`close` releases what it opened."""

    def __init__(self, executor: ProcrastinateExecutor, lock_timeout: float) -> None:
        self._executor = executor
        self.lock_timeout = lock_timeout
        #: Our own synchronous pool (server side), when the executor built the app.
        self.pool: Any = None
        #: Whether the last setup applied procrastinate's schema (:meth:`ProcrastinateExecutor.ensure_schema`).
        self.schema_applied = False
        self._lock = threading.Lock()
        self._wait = 3 * executor.connect_timeout + lock_timeout + 5.0
        self._attempts = 0
        self._error: str | None = None
        self._ready = False
        self._app_open = False

    def connector(self) -> Any:
        """The synchronous connector, set up on first use: the pool opened with a short wait (so that an unreachable
        database turns ``POST /start`` into a quick 503 instead of a thirty-second hang) and procrastinate's schema
        applied if missing. One thread sets up; the others wait for it, bounded, and share its outcome."""
        executor = self._executor
        if self._ready:
            return executor.app.connector.get_sync_connector()
        attempt = self._attempts
        if not self._lock.acquire(timeout=self._wait):
            raise ExecutorError(f"procrastinate cannot connect: the first connection to PostgreSQL at "
                                f"{executor.where()} has not been set up within {self._wait:g}s; try again")
        try:
            if not self._ready:
                if self._attempts != attempt and self._error is not None:
                    # The setup this call waited for failed just now: the same answer, not another wait.
                    raise ExecutorError(self._error)
                self._attempts += 1
                try:
                    self._open()
                except Exception as exc:
                    error = exc if isinstance(exc, ExecutorError) else executor.unavailable("connect", exc)
                    self._error = str(error)
                    raise error from None
                self._error = None
                self._ready = True
        finally:
            self._lock.release()
        return executor.app.connector.get_sync_connector()

    def _open(self) -> None:
        """Open the pool and the app's connector (each kept once open: a failed schema step is retried on the same
        ones) and apply procrastinate's schema if missing."""
        executor = self._executor
        if executor.dsn is not None and self.pool is None:
            import psycopg_pool

            pool = psycopg_pool.ConnectionPool(executor.dsn, min_size=1, max_size=4, open=False,
                                               timeout=executor.connect_timeout, kwargs=executor.connect_kwargs(),
                                               check=psycopg_pool.ConnectionPool.check_connection)
            try:
                pool.open(wait=True, timeout=executor.connect_timeout)
            except BaseException:
                pool.close()
                raise
            self.pool = pool
        if not self._app_open:
            try:
                executor.app.open(self.pool)
            except BaseException:
                with contextlib.suppress(Exception):  # procrastinate keeps a pool that failed to open: drop it
                    executor.app.close()
                raise
            self._app_open = True
        self.schema_applied = self._apply_schema(executor.app.connector.get_sync_connector())

    def _apply_schema(self, connector: Any) -> bool:
        """Apply procrastinate's schema unless its tables exist; True if this call applied it. Under a transaction
        advisory lock (see ``_SCHEMA_LOCKED``) waited for at most ``lock_timeout``, so that processes that start
        together apply it once and none can leave the lock behind."""
        if connector.execute_query_one(query=_SCHEMA_FOUND)["found"]:
            return False
        from procrastinate.schema import SchemaManager

        locked = _SCHEMA_LOCKED.format(timeout=round(self.lock_timeout * 1000))
        try:
            # ``%`` doubled as procrastinate's own apply_schema does: the connector formats the query.
            connector.execute_query(query=locked + SchemaManager.get_schema().replace("%", "%%"))
        except Exception as exc:
            if _sqlstate(exc) == _LOCK_NOT_AVAILABLE:
                raise ExecutorError(
                    f"procrastinate cannot apply its schema to {self._executor.where()}: another session has held "
                    f"jobdeck's schema lock (pg_advisory_xact_lock(hashtext('jobdeck.procrastinate.schema'))) for "
                    f"more than {self.lock_timeout:g}s; try again once it has finished") from None
            # Another process applied it while this one waited for the lock (its CREATE statements then fail).
            if connector.execute_query_one(query=_SCHEMA_FOUND)["found"]:
                return False
            raise
        logger.warning("applied procrastinate's schema to %s", self._executor.where())
        return True

    def close(self) -> None:
        """Release the synchronous pool and the app's connector; the next use sets up again."""
        # Not in the middle of another thread's setup (bounded: a stuck setup does not hold up the shutdown).
        locked = self._lock.acquire(timeout=self._wait)
        try:
            self._ready = False
            if self._app_open:
                self._app_open = False
                try:
                    self._executor.app.close()
                except Exception:
                    logger.debug("closing procrastinate's connector failed", exc_info=True)
            if self.pool is not None:
                self.pool.close()
                self.pool = None
        finally:
            if locked:
                self._lock.release()
