"""Stores by URL: ``memory://``, ``sqlite:///path/to/jobs.db``, ``redis://host:6379/0``.

Backends are imported only when asked for, so the Redis client is needed only by those who use Redis.
"""

from __future__ import annotations

from typing import Any

from ..errors import StoreError
from .base import DEFAULT_MAX_MESSAGES, DEFAULT_MAX_PAST_JOBS, DEFAULT_STALE_AFTER, Store
from .memory import MemoryStore

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "DEFAULT_MAX_PAST_JOBS",
    "DEFAULT_STALE_AFTER",
    "MemoryStore",
    "Store",
    "open_store",
]

SCHEMES = ("memory://", "sqlite:///path/to/jobs.db", "redis://host:port/db")


def open_store(url: str, **limits: Any) -> Store:
    """Open the store a URL names; ``limits`` go to its constructor (max_messages, stale_after, ...).

    Raises StoreError with one clear line for an unknown scheme, a missing extra or an unusable location.
    """
    if not isinstance(url, str) or "://" not in url:
        raise StoreError(f"store URL {url!r} is not a URL; use one of: {', '.join(SCHEMES)}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore(**limits)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore.from_url(url, **limits)
    if scheme in ("redis", "rediss", "unix"):
        try:
            from .redis import RedisStore
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise StoreError(f"the Redis store needs redis-py: pip install 'jobdeck[redis]' ({exc})") from None
        return RedisStore(url, **limits)
    raise StoreError(f"unknown store URL scheme {scheme!r} in {url!r}; use one of: {', '.join(SCHEMES)}")
