"""procrastinate's psycopg connector, made to wait out a database that went away (on the worker side only).

procrastinate's worker stops as soon as one of its side tasks (heartbeat, LISTEN, job fetching) meets a database
error. For a jobdeck worker that is the wrong answer to a PostgreSQL restart: its running jobs report to jobdeck's
store, not to PostgreSQL, and should go on; the worker should simply resume once the database answers. With
``patient`` set, a query that finds no connection is retried (backing off to one try a second) until it gets one
or ``patient`` is cleared, which the worker does when it is told to stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from procrastinate import PsycopgConnector, exceptions
from procrastinate.connector import Notify

__all__ = ["PatientConnector", "is_unreachable"]

logger = logging.getLogger("jobdeck.executors.procrastinate")

T = TypeVar("T")


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database could not be reached, as opposed to a query that
    failed on a working connection."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg_pool.PoolTimeout | psycopg.OperationalError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PatientConnector(PsycopgConnector):
    """A :class:`procrastinate.PsycopgConnector` whose queries wait for an unreachable database while ``patient``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.patient = False
        self._complained = False

    async def _patiently(self, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.1
        while True:
            try:
                result = await call()
            except exceptions.ConnectorException as exc:
                if not self.patient or not is_unreachable(exc):
                    raise
                if not self._complained:
                    self._complained = True
                    logger.warning("PostgreSQL is unreachable (%s); the worker waits for it to come back",
                                   exc.__cause__ or exc)
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
                continue
            if self._complained:
                self._complained = False
                logger.warning("PostgreSQL answers again; the worker resumes")
            return result

    async def execute_query_async(self, query: Any, **arguments: Any) -> None:
        await self._patiently(lambda: super(PatientConnector, self).execute_query_async(query, **arguments))

    async def execute_query_one_async(self, query: Any, **arguments: Any) -> dict[str, Any]:
        return await self._patiently(lambda: super(PatientConnector, self).execute_query_one_async(query, **arguments))

    async def execute_query_all_async(self, query: Any, **arguments: Any) -> list[dict[str, Any]]:
        return await self._patiently(lambda: super(PatientConnector, self).execute_query_all_async(query, **arguments))

    async def listen_notify(self, on_notification: Notify, channels: Iterable[str]) -> None:
        listen, names = super().listen_notify, list(channels)
        await self._patiently(lambda: listen(on_notification, names))
