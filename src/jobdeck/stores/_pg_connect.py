"""The PostgreSQL store's connections: the URL and its options, one clear line for every way connecting fails
(the password never shown), the pool, one transaction per step, and the listening connection.

Connections come from a small :class:`psycopg_pool.ConnectionPool` (autocommit; each step opens and commits its
own transaction on a connection it holds only for that step, so no transaction outlives a call -- in particular
none is held across an ``await`` or an HTTP answer, which run in other code entirely). A connection that the
server dropped (a restart, a failover) is noticed before it is handed out (its socket turned readable) and
replaced, so a restart costs no caller an error once the server is back. While the server is down every step
raises :class:`StoreError` within ``connect_timeout``.

A connection that saw an error is closed, never handed out again: an error inside a pipeline can leave psycopg's
cache of prepared statements out of step with the server (a later step then fails with ``prepared statement
"_pg3_N" does not exist``), and a connection whose rollback failed may be mid-transaction. Only a refusal of
jobdeck's own after a clean ``ROLLBACK`` (JobConflictError, JobNotFoundError) keeps it. A data error (a value
the server cannot store, say) is :class:`InvalidArgumentError`, never the ``StoreError`` of an outage.

After ``fork()`` a child never touches its parent's connections (their sockets are shared with the parent, and a
word from the child on one, even libpq's goodbye when it is freed, would break the parent's session): they are
pointed at ``/dev/null`` and kept, and the child opens its own pool on first use.
"""

from __future__ import annotations

import logging
import os
import re
import select
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from ..core import urls
from ..core.backoff import Backoff
from ..core.errors import InvalidArgumentError, JobdeckError, StoreError
from ..core.urls import FLAG, FLOAT, INT, TEXT
from ..core.urls import redact_url as redact

__all__ = ["Listener", "Pool", "connect", "redact", "split_options"]

T = TypeVar("T")
logger = logging.getLogger("jobdeck.stores.postgres")

# jobdeck's own URL options (everything else in the query goes to libpq: sslmode, application_name, ...).
OPTIONS = {
    "schema": TEXT, "prefix": TEXT, "stale_after": FLOAT, "pool_size": INT, "connect_timeout": FLOAT,
    "listen": FLAG, "progress_interval": FLOAT, "message_interval": FLOAT, "max_messages": INT,
    "max_past_jobs": INT, "max_past_age": FLOAT, "max_events": INT,
}
_RETRYABLE = (pgerrors.DeadlockDetected, pgerrors.SerializationFailure)
# Every connection this module opened that may still be open, and (in a forked child) what the parent left behind,
# kept referenced so that nothing frees it and makes libpq say goodbye on the parent's socket.
_opened: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
_pools: weakref.WeakSet[Pool] = weakref.WeakSet()
_inherited: list[object] = []


def split_options(url: str) -> tuple[str, dict[str, Any]]:
    """Take jobdeck's options out of the URL's query; the rest of the URL goes to libpq as it is."""
    rest, options = urls.split_options(url, OPTIONS, label="PostgreSQL", error=StoreError)
    parts = urlsplit(rest)
    scheme = "postgresql" if parts.scheme.lower() in ("postgres", "postgresql") else parts.scheme
    return urlunsplit(parts._replace(scheme=scheme)), options


def _one_line(exc: BaseException, password: str | None) -> str:
    """libpq's message, squeezed onto one line, without the password (it never includes it; make sure)."""
    text = " ".join(str(exc).split())
    if password:
        text = text.replace(password, "***")
    return text


def explain(exc: BaseException, shown: str, password: str | None) -> StoreError:
    """One line that says what failed and what to do, for a failed connection or schema upgrade."""
    text = _one_line(exc, password)
    low = text.lower()
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        hint = ("the user may not create jobdeck's tables; grant it CREATE on the database/schema, or let an "
                "owner run 'jobdeck db upgrade --store URL' once")
    elif "password authentication failed" in low or "no password supplied" in low:
        hint = "wrong user or password"
    elif "does not exist" in low and "database" in low:
        hint = "create the database first (createdb), or fix its name in the URL"
    elif "connection refused" in low or "could not connect" in low or "timeout" in low or "resolve" in low:
        hint = "is the server running, and are host and port right?"
    else:
        hint = "check the URL"
    return StoreError(f"cannot open PostgreSQL store {shown}: {text} ({hint})")


def connect(url: str, shown: str, timeout: float, **kwargs: Any) -> psycopg.Connection[Any]:
    """One autocommit connection, or one clear StoreError."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout)), **kwargs)
        _opened.add(conn)
        return conn
    except psycopg.ProgrammingError as exc:  # a malformed URL or option
        raise StoreError(f"bad PostgreSQL URL {shown}: {_one_line(exc, urlsplit(url).password)}") from None
    except psycopg.Error as exc:
        raise explain(exc, shown, urlsplit(url).password) from None


class Pool:
    """A few autocommit connections; :meth:`run` is one transaction with errors turned into StoreErrors."""

    def __init__(self, url: str, shown: str, size: int, timeout: float, prepare: bool = True) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise StoreError(f"PostgreSQL pool_size must be a positive integer, got {size!r}")
        self.shown = shown
        self.timeout = timeout
        self._url = url
        self._size = size
        self._password = urlsplit(url).password
        self._kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": max(1, round(timeout))}
        if not prepare:
            self._kwargs["prepare_threshold"] = None
        self._lock = threading.Lock()
        self._conns: ConnectionPool | None = None
        self._closed = False
        self._connections()
        self.borrowed = threading.local()  # a caller's own connection (PostgresStore.using)
        _pools.add(self)

    def _connections(self) -> ConnectionPool:
        """The pool, opened on first use (again in a forked child)."""
        conns = self._conns
        if conns is not None:
            return conns
        with self._lock:
            if self._conns is None:
                if self._closed:
                    raise StoreError(f"PostgreSQL store {self.shown} is closed")
                # reconnect_timeout=0: a connection that cannot be re-made is given up at once instead of retried
                # with a growing back-off (seconds apart after an outage); the pool makes a new one when a step
                # needs it, so the store is back as soon as the server is.
                conns = ConnectionPool(self._url, min_size=1, max_size=self._size, kwargs=self._kwargs,
                                       timeout=self.timeout, check=_alive, configure=_opened.add,
                                       reconnect_timeout=0, open=False, name="jobdeck")
                conns.open(wait=False)
                self._conns = conns
            return self._conns

    def _forked(self) -> None:
        """In a forked child: leave the parent's pool alone (see the module docstring); open one on first use."""
        self._lock = threading.Lock()
        if self._conns is not None:
            _inherited.append(self._conns)
            self._conns = None

    def run(self, body: Callable[[psycopg.Connection[Any]], T], *, read_only: bool = False,
            durable: bool = True) -> T:
        """``body(conn)`` inside one transaction, committed unless it raises; in pipeline mode, so that the
        statements up to the first result the body reads, and those after it with the ``COMMIT``, each cost one
        round trip. A step that lost a deadlock is run again.

        ``durable=False`` commits without waiting for the WAL flush (``synchronous_commit = off``): for progress,
        messages and heartbeats, which a server crash (not a restart) may then lose for the last few hundred
        milliseconds -- never out of order, since a later durable commit flushes everything before it."""
        own = getattr(self.borrowed, "conn", None)
        if own is not None:  # the caller's transaction: no BEGIN/COMMIT of ours
            return self._errors(lambda: body(own))
        for attempt in range(3):
            try:
                with self._connections().connection() as conn:
                    try:
                        with conn.pipeline():
                            if read_only:
                                conn.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                            else:
                                conn.execute(b"BEGIN")
                                if not durable:
                                    conn.execute(b"SET LOCAL synchronous_commit = off")
                            result = body(conn)
                            conn.execute(b"COMMIT")
                        return result
                    except BaseException as exc:
                        if not _rolled_back(conn, exc):
                            conn.close()  # the pool drops a closed connection and opens another
                        raise
            except PoolTimeout:
                raise StoreError(f"PostgreSQL store {self.shown}: no connection within {self.timeout:g}s (is the "
                                 "server up? the store reconnects by itself)") from None
            except _RETRYABLE as exc:
                if attempt == 2:
                    raise self._store_error(exc) from exc
            except psycopg.Error as exc:
                raise self._store_error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def one(self, statement: bytes, args: Any = None, *, prepare: bool | None = None) -> list[tuple[Any, ...]]:
        """One statement on its own (its own snapshot, no transaction around it): one round trip. ``prepare``:
        psycopg's (None: prepared after a few runs; False: never, planned for its values each time)."""
        own = getattr(self.borrowed, "conn", None)
        if own is not None:
            return self._errors(lambda: own.execute(statement, args, prepare=prepare).fetchall())
        try:
            with self._connections().connection() as conn:
                try:
                    return conn.execute(statement, args, prepare=prepare).fetchall()
                except BaseException:
                    conn.close()  # not trusted again (see the module docstring)
                    raise
        except PoolTimeout:
            raise StoreError(f"PostgreSQL store {self.shown}: no connection within {self.timeout:g}s (is the "
                             "server up? the store reconnects by itself)") from None
        except psycopg.Error as exc:
            raise self._store_error(exc) from exc

    def maintain(self, statement: bytes) -> None:
        """Run a maintenance command (VACUUM) outside any transaction; failures are logged, never raised."""
        try:
            with self._connections().connection(timeout=self.timeout) as conn:
                try:
                    conn.execute(statement)
                except BaseException:
                    conn.close()
                    raise
        except (psycopg.Error, PoolTimeout, StoreError) as exc:
            logger.warning("maintenance of the store's tables failed: %s", _one_line(exc, self._password))

    def _errors(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except psycopg.Error as exc:
            raise self._store_error(exc) from exc

    def _store_error(self, exc: BaseException) -> StoreError | InvalidArgumentError:
        text = f"PostgreSQL store {self.shown}: {type(exc).__name__}: {_one_line(exc, self._password)}"
        if isinstance(exc, psycopg.DataError):  # a value the server cannot take: that value's problem, no outage
            return InvalidArgumentError(f"{text} (the value cannot be stored)")
        return StoreError(text)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, None
        if conns is not None:
            conns.close(timeout=5)


def _rolled_back(conn: psycopg.Connection[Any], exc: BaseException) -> bool:
    """After a step failed with ``exc``: roll back, and say whether the connection may serve again -- only after
    one of jobdeck's own refusals and a clean rollback (see the module docstring)."""
    if not isinstance(exc, JobdeckError) or conn.broken:
        return False
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute(b"ROLLBACK")
    except psycopg.Error:
        return False
    return conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def _disown(conn: psycopg.Connection[Any]) -> None:
    """In a forked child: point the parent's connection's socket at /dev/null (the fd stays taken, so nothing
    new reuses its number) and keep the object, so that no word of the child's reaches the parent's session."""
    try:
        fd = conn.pgconn.socket
    except psycopg.Error:
        return  # closed: nothing shared any more
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
    _inherited.append(conn)


def _after_fork_in_child() -> None:
    for conn in list(_opened):
        _disown(conn)
    _opened.clear()
    for pool in list(_pools):
        pool._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _alive(conn: psycopg.Connection[Any]) -> None:
    """The pool's check before handing out a connection, without a round trip: an idle connection has nothing
    to read, so a readable socket means the server closed it (a restart) or said something it should not
    have; either way it is replaced (the pool opens another one) instead of failing the caller's step."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection closed")
    ready, _, _ = select.select([conn.fileno()], [], [], 0)
    if ready:
        conn.close()  # closed, the pool drops it (an open one would be handed back to the same check)
        raise psycopg.OperationalError("the server closed the connection")


class Listener:
    """One connection that LISTENs on the store's channel and counts notifications, re-connecting when lost.

    NOTIFY is only a wake-up (its payload is empty): the events table stays the truth, and a waiter that was
    not woken still finds new events by polling. ``healthy`` says whether the connection is up, so that
    waiters poll fast while it is not (and after a reconnect everybody is woken once, for what was missed).
    """

    def __init__(self, url: str, channel: str, timeout: float, on_wake: Callable[[], None]) -> None:
        self._url = url
        self._channel = channel
        self._timeout = timeout
        self._on_wake = on_wake
        self._closed = threading.Event()
        self.healthy = False
        self._thread = threading.Thread(target=self._run, name="jobdeck-pg-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = Backoff(0.05, 2.0)  # between attempts to connect: doubling up to 2 s, from 0.05 s once up
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=max(1, round(self._timeout))) as conn:
                    _opened.add(conn)
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self.healthy = True
                    backoff.reset()
                    self._on_wake()
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=0.25):
                            self._on_wake()
            except psycopg.Error as exc:
                if self.healthy:
                    logger.warning("lost the LISTEN connection (%s); polling until it is back",
                                   re.sub(r"\s+", " ", str(exc)))
            finally:
                self.healthy = False
            if self._closed.wait(backoff.next()):
                return

    def close(self) -> None:
        self._closed.set()
