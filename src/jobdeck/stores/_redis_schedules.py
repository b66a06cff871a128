"""The Redis store's schedules (issue 23): one hash, ``P:schedules``, id -> ``<rev>:<JSON text>``. A change is one
Lua call that compares the stored revision and writes (:data:`REPLACE`), so it is a compare-and-set across every
process on the server (:mod:`._schedules`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import redis

from ._schedules import Stored

__all__ = ["REPLACE", "RedisSchedules"]

# KEYS[1] the hash; ARGV: id, expected revision, new text. 1 if written.
REPLACE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local colon = string.find(cur, ':', 1, true)
if string.sub(cur, 1, colon - 1) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], tostring(tonumber(ARGV[2]) + 1) .. ':' .. ARGV[3])
return 1
"""


def _split(value: str) -> Stored:
    rev, _, text = value.partition(":")
    return int(rev), text


class RedisSchedules:
    """:class:`~jobdeck.stores._schedules.ScheduleSteps` on a store's client, its ``REPLACE`` script and its error
    wrapper."""

    def __init__(self, client: redis.Redis[Any], script: Any, prefix: str,
                 errors: Callable[[], AbstractContextManager[None]]) -> None:
        self._redis, self._script, self._key, self._errors = client, script, f"{prefix}:schedules", errors

    def read(self, schedule_id: str) -> Stored | None:
        with self._errors():
            value = self._redis.hget(self._key, schedule_id)
        return _split(value) if value is not None else None

    def read_all(self) -> list[Stored]:
        with self._errors():
            values = self._redis.hvals(self._key)
        return [_split(v) for v in values]

    def insert(self, schedule_id: str, text: str) -> bool:
        with self._errors():
            return bool(self._redis.hsetnx(self._key, schedule_id, f"1:{text}"))

    def replace(self, schedule_id: str, rev: int, text: str) -> bool:
        with self._errors():
            return bool(self._script(keys=[self._key], args=[schedule_id, str(rev), text]))

    def delete(self, schedule_id: str) -> bool:
        with self._errors():
            return bool(self._redis.hdel(self._key, schedule_id))
