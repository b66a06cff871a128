"""Opening each store for a benchmark, or saying why it cannot be opened.

Redis runs use a private key prefix when the store offers one (else a dedicated job type) and delete what they
created; SQLite runs use a file in a temporary directory on the same disk as the sqlite3 floor.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .timing import redis_unavailable, redis_url

STORE_KINDS = ("memory", "sqlite", "redis")


@dataclass
class StoreTarget:
    """How to reach one store from this process and from a reader process (``url`` + ``options``)."""

    kind: str
    url: str
    options: dict[str, Any]

    def command_line_url(self) -> str:
        """The URL with the options folded in, for a process that opens the store from a URL alone."""
        if self.kind == "redis" and self.options:
            return self.url + ("&" if "?" in self.url else "?") + f"prefix={next(iter(self.options.values()))}"
        return self.url

    def open(self, **limits: Any) -> Any:
        from jobdeck import open_store

        return open_store(self.url, **{**self.options, **limits})


def unavailable(kind: str) -> str | None:
    """Why a store kind cannot run here (its module not written yet, Redis down), or None."""
    if kind == "memory":
        return None
    try:
        if kind == "sqlite":
            import jobdeck.stores.sqlite
        else:
            import jobdeck.stores.redis  # noqa: F401
    except ImportError as exc:
        return f"{kind} store not available ({exc})"
    if kind == "redis":
        return redis_unavailable(redis_url())
    return None


def _redis_prefix_option() -> str | None:
    """The RedisStore keyword that sets its key prefix, if it has one."""
    import inspect

    from jobdeck.stores.redis import RedisStore

    params = inspect.signature(RedisStore.__init__).parameters
    for name in ("prefix", "key_prefix", "namespace"):
        if name in params:
            return name
    return None


@contextlib.contextmanager
def target(kind: str) -> Iterator[StoreTarget]:
    """A fresh, empty store location of ``kind``; removed afterwards."""
    if kind == "memory":
        yield StoreTarget("memory", "memory://", {})
        return
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="jobdeck-bench-")
        try:
            yield StoreTarget("sqlite", f"sqlite:///{tmp}/bench.db", {})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    url = redis_url()
    prefix = f"jobdeck-bench-{uuid.uuid4().hex[:8]}"
    option = _redis_prefix_option()
    options = {option: prefix} if option else {}
    try:
        yield StoreTarget("redis", url, options)
    finally:
        delete_redis_keys(url, prefix)


def delete_redis_keys(url: str, prefix: str) -> int:
    """Remove every key under ``prefix`` (SCAN, never KEYS or FLUSHDB: the server may be shared)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        gone = 0
        batch = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                gone += client.delete(*batch)
                batch = []
        if batch:
            gone += client.delete(*batch)
        return gone
    finally:
        client.close()


def redis_key_count(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()
