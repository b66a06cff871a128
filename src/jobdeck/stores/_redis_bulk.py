"""The Redis store's steps for the operator's many-job views (issue 22), as a mixin: failure groups counted by a
script inside Redis from the past set and four fields of each job's hash (no index holds the signature: every past
job since ``since`` is looked at), and deletion of past jobs by id in one script."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from ._failures import FailureGroup, FailureQuery
from ._redis_scripts import DROP

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["DELETE_IDS", "GROUPS", "RedisBulkSteps"]

# KEYS: past (or past:<type>).  ARGV: prefix, low score ('-inf' or '(since'), ids per group
# -> per group {signature, count, first end, last end, {types}, {newest ids}, newest job's last error or ''}.
# Grouped inside Redis: a reply per group rather than per job (parsing thousands of replies costs the client far
# more than the script costs Redis).
GROUPS = """
local prefix, n = ARGV[1], tonumber(ARGV[3])
local groups, order = {}, {}
for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[2])) do
  local h = redis.call('HMGET', prefix .. ':job:' .. id, 'status', 'sig', 'type', 'end')
  if h[1] == 'failed' and h[2] and h[4] then
    local g = groups[h[2]]
    local e = tonumber(h[4])
    if not g then
      g = {count = 0, low = e, first = h[4], high = e, last = h[4], types = {}, ids = {}}
      groups[h[2]] = g
      order[#order + 1] = h[2]
    end
    g.count = g.count + 1
    if e < g.low then g.low, g.first = e, h[4] end
    if e > g.high then g.high, g.last = e, h[4] end
    g.types[h[3]] = true
    if #g.ids < n then g.ids[#g.ids + 1] = id end
  end
end
local out = {}
for _, sig in ipairs(order) do
  local g = groups[sig]
  local types = {}
  for t in pairs(g.types) do types[#types + 1] = t end
  local said = false  -- the newest job's last error message (JSON [text, time]), the group's example
  if g.ids[1] then said = redis.call('LINDEX', prefix .. ':msgs:' .. g.ids[1] .. ':error', -1) end
  out[#out + 1] = {sig, g.count, g.first, g.last, types, g.ids, said or ''}
end
return out
"""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

# KEYS: past, events.  ARGV: prefix, max_events, id, ... -> the ids deleted (past jobs only: in the past set)
DELETE_IDS = """
local prefix = ARGV[1]
""" + DROP + """
local gone = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    drop(id)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 't', 'removed', 'j', id, 'd', '{}')
    gone[#gone + 1] = id
  end
end
return gone
"""


class RedisBulkSteps:
    """``_failure_groups`` and ``_delete_jobs``, each one script: atomic, like every other step of the store."""

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        store = cast("RedisStore", self)
        store._catch_up()
        low = "-inf" if query.since is None else f"({query.since!r}"
        with store._errors():
            script = store._redis.register_script(GROUPS)
            reply = script(keys=[store._set_key("past", query.job_type)], args=[store.prefix, low, query.ids])
        groups = [FailureGroup(_text(sig), int(count), float(first), float(last), sorted(_text(t) for t in types),
                               [_text(i) for i in ids], json.loads(said)[0] if said else None)
                  for sig, count, first, last, types, ids, said in reply]
        groups.sort(key=lambda g: (-g.last_seen, g.signature))
        return groups[:query.limit]

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        store = cast("RedisStore", self)
        with store._errors():
            script = store._redis.register_script(DELETE_IDS)
            gone = script(keys=[store._set_key("past"), store._events_key], args=[store.prefix, store.max_events,
                                                                               *job_ids])
        return [g.decode() if isinstance(g, bytes) else str(g) for g in gone]
