"""Stores by URL: ``memory://``, ``sqlite:///path/to/jobs.db``, ``redis://host:6379/0``,
``postgresql://user@host/db``.

Backends are imported only when asked for, so the Redis client is needed only by those who use Redis, and
psycopg only by those who use PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import StoreError
from ..core.urls import redact_url
from ._search import MAX_WORD as MAX_SEARCH_WORD_CHARS
from ._search import MAX_WORDS as MAX_SEARCH_WORDS
from .base import DEFAULT_MAX_MESSAGES, DEFAULT_MAX_PAST_JOBS, DEFAULT_STALE_AFTER, Store
from .memory import MemoryStore

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "DEFAULT_MAX_PAST_JOBS",
    "DEFAULT_STALE_AFTER",
    "MAX_SEARCH_WORDS",
    "MAX_SEARCH_WORD_CHARS",
    "MemoryStore",
    "Store",
    "open_store",
    "upgrade_store",
]

SCHEMES = ("memory://", "sqlite:///path/to/jobs.db", "redis://host:port/db", "postgresql://user@host/db")


def _scheme(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise StoreError(f"store URL {url!r} is not a URL; use one of: {', '.join(SCHEMES)}")
    return url.split("://", 1)[0].lower()


def _postgres() -> Any:
    try:
        from .postgres import PostgresStore
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StoreError(f"the PostgreSQL store needs psycopg 3: pip install 'jobdeck[postgres]' ({exc})") from None
    return PostgresStore


def open_store(url: str, *, migrate: bool = True, **limits: Any) -> Store:
    """Open the store a URL names; ``limits`` go to its constructor (max_messages, stale_after, ...).

    ``migrate=False`` makes a PostgreSQL store refuse a schema that is not up to date instead of upgrading it
    (SQLite files are always brought up to date). Raises StoreError with one clear line for an unknown
    scheme, a missing extra or an unusable location.
    """
    scheme = _scheme(url)
    if scheme in ("postgresql", "postgres"):
        store: Store = _postgres()(url, migrate=migrate, **limits)
        return store
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
    raise StoreError(f"unknown store URL scheme {scheme!r} in {redact_url(url)!r}; use one of: {', '.join(SCHEMES)}")


def upgrade_store(url: str) -> tuple[int, int] | None:
    """Bring the schema of the store a URL names up to date: (version before, version after) for PostgreSQL,
    None for the others (a SQLite file is upgraded whenever it is opened, so this opens and closes it; memory
    and Redis have no schema). Raises StoreError with one clear line when it cannot."""
    scheme = _scheme(url)
    if scheme in ("postgresql", "postgres"):
        result: tuple[int, int] = _postgres().upgrade(url)
        return result
    if scheme == "sqlite":
        open_store(url).close()
    elif scheme not in ("memory", "redis", "rediss", "unix"):
        raise StoreError(f"unknown store URL scheme {scheme!r} in {redact_url(url)!r}; use one of: "
                         f"{', '.join(SCHEMES)}")
    return None
