"""The Redis store's worker registry (issue 22): one hash ``P:workers`` (worker id -> JSON text) and one sorted set
``P:workers:seen`` (worker id scored by its last heartbeat), written together in one MULTI."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import redis

__all__ = ["RedisWorkers"]


class RedisWorkers:
    """:class:`~jobdeck.stores._workers.WorkerSteps` on a store's client and its error wrapper."""

    def __init__(self, client: redis.Redis[Any], prefix: str,
                 errors: Callable[[], AbstractContextManager[None]]) -> None:
        self._redis, self._errors = client, errors
        self._data, self._seen = f"{prefix}:workers", f"{prefix}:workers:seen"

    def put(self, worker_id: str, last_seen: float, text: str, drop_before: float) -> None:
        with self._errors():
            old = self._redis.zrangebyscore(self._seen, "-inf", f"({drop_before!r}")
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._data, worker_id, text)
            pipe.zadd(self._seen, {worker_id: last_seen})
            if old:
                pipe.hdel(self._data, *old)
                pipe.zrem(self._seen, *old)
            pipe.execute()

    def drop(self, worker_id: str) -> None:
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(self._data, worker_id)
            pipe.zrem(self._seen, worker_id)
            pipe.execute()

    def read(self, since: float) -> list[str]:
        with self._errors():
            ids = self._redis.zrangebyscore(self._seen, since, "+inf")
            if not ids:
                return []
            return [t for t in self._redis.hmget(self._data, ids) if t is not None]
