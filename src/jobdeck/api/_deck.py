"""The state one app instance works with: store, runner, authentication, event multiplexer, caches, limits.

It lives on the app (``app.state.deck``) and in the route closures, never at module level, so that two apps
in one process (or one mounted inside another) never share anything by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool

from ..runtime.runner import JobRunner
from ..stores.base import Store
from ._answers import Answer, AnswerCache, Build
from ._auth import Authenticator
from ._cache import JobBytesCache
from ._report_token import ReportTokens
from ._roles import Permissions
from ._sse import Multiplexer

if TYPE_CHECKING:
    from ._metrics import JobMetrics

__all__ = ["Deck"]

T = TypeVar("T")


@dataclass(eq=False)
class Deck:
    """Everything the routes need. ``inline`` calls the store on the event loop (``not store.blocking``)."""

    store: Store
    runner: JobRunner | None
    auth: Authenticator
    prefix: str
    mux: Multiplexer
    max_body: int
    inline: bool
    shutdown_grace: float | None = None
    permissions: Permissions = field(default_factory=Permissions)
    metrics: JobMetrics | None = None  # with metrics_token or metrics_public
    reports: ReportTokens = field(default_factory=ReportTokens)
    cache: JobBytesCache = field(default_factory=JobBytesCache)
    answers: AnswerCache = field(default_factory=AnswerCache)
    writes: int = 0  # changes made through this app (see version)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store or runner call: directly for a store that never blocks (the memory store: a few
        microseconds under a lock, less than a thread hop), in the thread pool for stores that do I/O."""
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    def wrote(self) -> None:
        """Call after every change made through this app: its answers are rebuilt on the next read."""
        self.writes += 1

    async def version(self) -> Hashable | None:
        """The store's version, for the answer cache; None when no usable version can be had (do not cache).

        - Memory store: its event cursor, read on the loop (a microsecond): exact.
        - SQLite and Redis: a count of the event batches the live-event reader handed to the loop (the reader
          behind ``/events``, started here if no stream runs yet), plus ``writes``. It costs nothing per
          request; the price is a short lag. A change made through this app shows on the very next request
          (read-your-writes); one made elsewhere (another process, or this process's job code) once its event
          has arrived: at once in-process, within the store's event latency from other processes (~50 ms
          polling on SQLite, one blocking read on Redis). Whatever emits no event (heartbeats), or arrives late
          because the reader fails or falls behind, is covered by the cache's maximum age (1 s).

        Asking the store for its cursor on every request instead (exact, ``read_events(None)`` through the
        thread pool) measured 75-96% of the benchmark's orjson ceiling on SQLite and 50-55% on Redis for
        100-job lists, against 125-172% for this (``python -m benchmarks --only http``).
        """
        if self.inline:
            return self.store.read_events(None).cursor
        if self.mux.closed:
            return None
        await self.mux.ensure_started()
        return self.mux.changes, self.writes

    async def answer(self, key: Hashable, build: Build) -> Answer:
        """The cached answer for ``key`` at the store's current version, built (once) if there is none."""
        version = await self.version()
        if version is None:
            body, headers = await build()
            return Answer(body, headers, None, 0.0)
        return await self.answers.get(key, version, build)
