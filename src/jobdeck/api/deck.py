"""The state one app instance works with: store, runner, authentication, event multiplexer, limits.

It lives on the app (``app.state.deck``) and in the route closures, never at module level, so that two apps
in one process (or one mounted inside another) never share anything by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from ..runner import JobRunner
from ..stores.base import Store
from .auth import Authenticator
from .cache import JobBytesCache
from .sse import Multiplexer

__all__ = ["Deck"]

T = TypeVar("T")


@dataclass(eq=False)
class Deck:
    """Everything the routes need. ``inline`` calls the store on the event loop (it never blocks)."""

    store: Store
    runner: JobRunner | None
    auth: Authenticator
    prefix: str
    mux: Multiplexer
    max_body: int
    inline: bool
    shutdown_grace: float | None = None
    cache: JobBytesCache = field(default_factory=JobBytesCache)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store or runner call: directly for the memory store (a few microseconds under a lock, less
        than a thread hop), in the thread pool for stores that do I/O (SQLite, Redis)."""
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)
