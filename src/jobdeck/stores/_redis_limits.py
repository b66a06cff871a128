"""The Redis store's shared limits (issue 24), each step one Lua script (atomic in Redis). Keys under the store's
prefix ``P``::

    P:lim:<name>     zset   holders, score = their lease's expiry
    P:limw:<name>    zset   waiters, score = when they stop counting unless they renew
    P:limits         hash   name -> the capacity its holders asked for
    P:rates          hash   name -> the next start time of its rate; P:rate-int: name -> the interval

Times are the callers' clocks (``time.time()``): the machines sharing a limit should keep theirs in sync (NTP).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ..core.limits import LimitUse
from ._limits import WAIT_LEASE

__all__ = ["RedisLimits"]

# KEYS: holders, waiters, limits.  ARGV: name, holder, capacity, now, expires, waiter's expiry -> {taken, in use}
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then n = n - 1 end
if n < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {1, n + 1}
end
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[2])
return {0, n}
"""

# KEYS: holders.  ARGV: holder, expires -> 1 renewed, 0 no lease
_RENEW = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

# KEYS: rates, intervals.  ARGV: name, interval, now -> the start time (text)
_RESERVE = """
local tat = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local now = tonumber(ARGV[3])
if tat < now then tat = now end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.6f', tat + tonumber(ARGV[2])))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return string.format('%.6f', tat)
"""


class RedisLimits:
    """:class:`~jobdeck.stores._limits.LimitSteps` on a store's Redis client, its ``prefix`` and ``errors()``."""

    def __init__(self, client: Any, prefix: str, errors: Callable[[], AbstractContextManager[None]]) -> None:
        self._redis, self._prefix, self._errors = client, prefix, errors
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._reserve = client.register_script(_RESERVE)

    def _keys(self, name: str) -> list[str]:
        return [f"{self._prefix}:lim:{name}", f"{self._prefix}:limw:{name}", f"{self._prefix}:limits"]

    def acquire(self, name: str, holder: str, capacity: int, *, job_id: str, now: float, expires: float
                ) -> tuple[bool, int]:
        with self._errors():
            taken, used = self._acquire(keys=self._keys(name), args=[name, holder, capacity, repr(now),
                                                                     repr(expires), repr(now + WAIT_LEASE)])
        return bool(taken), int(used)

    def renew(self, name: str, holder: str, expires: float) -> bool:
        with self._errors():
            return bool(self._renew(keys=self._keys(name)[:1], args=[holder, repr(expires)]))

    def release(self, name: str, holder: str) -> None:
        holders, waiters, _ = self._keys(name)
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.zrem(holders, holder)
            pipe.zrem(waiters, holder)
            pipe.execute()

    def reserve(self, name: str, interval: float, now: float) -> float:
        with self._errors():
            start = self._reserve(keys=[f"{self._prefix}:rates", f"{self._prefix}:rate-int"],
                                  args=[name, repr(interval), repr(now)])
        return float(start)

    def uses(self, now: float) -> list[LimitUse]:
        with self._errors():
            capacities = self._redis.hgetall(f"{self._prefix}:limits")
            intervals = self._redis.hgetall(f"{self._prefix}:rate-int")
            names = sorted(set(capacities) | set(intervals))
            pipe = self._redis.pipeline(transaction=False)
            for name in names:
                holders, waiters, _ = self._keys(name)
                pipe.zcount(holders, repr(now), "+inf")
                pipe.zcount(waiters, repr(now), "+inf")
            counts = pipe.execute()
        out = []
        for i, name in enumerate(names):
            held, waiting = int(counts[2 * i]), int(counts[2 * i + 1])
            if held or waiting or name in intervals:
                cap = capacities.get(name)
                rate = intervals.get(name)
                out.append(LimitUse(name, int(cap) if cap is not None and (held or waiting) else None, held, waiting,
                                    float(rate) if rate is not None else None))
        return out
