"""Lua scripts of the Redis store: each multi-key step runs inside Redis as one atomic unit.

Key layout under a prefix ``P`` (one Redis database may hold several jobdeck deployments side by side)::

    P:job:<id>              hash   the job head (see redis.py ``_encode``)
    P:msgs:<id>:<kind>      list   JSON [text, timestamp], capped with LTRIM to max_messages (newest kept)
    P:ops:<id>              string the operation tree as last published (JSON); beside the hash, not in it, so
                                   that HGETALL of a listing does not carry a few kilobytes per job
    P:saved:<id>            hash   the job's saved values, key -> JSON text (issue 21)
    P:savedsize:<id>        string their total in bytes, kept by each save
    P:active, P:active:<t>  zset   active job ids (all / of type t), score = start time
    P:past, P:past:<t>      zset   finished job ids, score = end time (newest last)
    P:events                stream the change log, MAXLEN ~ max_events; entry ids are the event ids
    P:tally, P:ids, ...     counts and indexes kept beside the jobs: see ``_redis_index``

Scripts build some key names from the prefix, so the store targets a single Redis server (or a replica set),
not Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.jsoncodec import dumps_text
from ..core.model import JobMessage
from ._buffer import Write, json_string, kept, message_event
from ._redis_index import INDEX_DROP

__all__ = ["DELETE_PAST", "DROP", "EVICT", "INSERT", "MESSAGE", "MESSAGES", "PROGRESS", "SAVE",
           "messages_args"]

# The active statuses (model.ACTIVE): queued jobs count toward max_active and take writes like running ones.
_ACTIVE = ("local function is_active(st) return st == 'running' or st == 'aborting' or st == 'queued' end\n")

# Remove a past job and everything that belongs to it, and forget it in the counts and indexes of
# ``_redis_index``. Needs `prefix` in scope.
DROP = _DROP = INDEX_DROP + """
local function drop(id)
  local jk = prefix .. ':job:' .. id
  local h = redis.call('HMGET', jk, 'type', 'status', 'author', 'sig')
  local t = h[1]
  unindex(id, h)
  redis.call('DEL', jk, prefix .. ':msgs:' .. id .. ':info', prefix .. ':msgs:' .. id .. ':warning',
             prefix .. ':msgs:' .. id .. ':error', prefix .. ':ops:' .. id, prefix .. ':saved:' .. id,
             prefix .. ':savedsize:' .. id)
  redis.call('ZREM', prefix .. ':past', id)
  if t then redis.call('ZREM', prefix .. ':past:' .. t, id) end
end
"""

# KEYS: job, active, active:<type>, events, tally, ids (``_redis_index``)
# ARGV: max_active (-1 = no limit), start score, id, max_events, created-event data, tally field
# ("<status>:<type>"), field, value, ...
# -> {0, active ids} on conflict, {1, event id} when inserted
INSERT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {2, ''} end
local max = tonumber(ARGV[1])
if max >= 0 and redis.call('ZCARD', KEYS[3]) >= max then
  return {0, redis.call('ZRANGE', KEYS[3], 0, -1)}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[5], ARGV[6], 1)
redis.call('ZADD', KEYS[6], 0, ARGV[3])
local eid = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 't', 'created', 'j', ARGV[3], 'd', ARGV[5])
return {1, eid}
"""

# KEYS: job, events, ops.  ARGV: id, progress, activity time, operation JSON ('' = unchanged), max_events,
# operation tree JSON ('' = unchanged), usage JSON ('' = unchanged)
# -> -1 unknown job, 0 job finished, 1 written
PROGRESS = _ACTIVE + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if not is_active(st) then return 0 end
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6]) end
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'usage', ARGV[7]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'activity', ARGV[3], 'op', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'activity', ARGV[3])
end
local op = redis.call('HGET', KEYS[1], 'op') or ''
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 't', 'progress', 'j', ARGV[1], 'p', ARGV[2],
           'a', ARGV[3], 'o', op)
return 1
"""

# KEYS: job, message list, events.  ARGV: id, list entry, timestamp, max_messages, max_events, event data
# -> -1 unknown job, 0 job finished, 1 written
MESSAGE = _ACTIVE + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if not is_active(st) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
redis.call('HSET', KEYS[1], 'activity', ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 't', 'message', 'j', ARGV[1], 'd', ARGV[6])
return 1
"""

# A batch of buffered writes (see _buffer.MessageBuffer), in the order of the calls.  KEYS: events.
# ARGV: prefix, max_messages, max_events, then six per write (built by messages_args):
#   'm', id, timestamp, kind, list entry ('' = beyond the cap by the end of the batch: event only), event data
#   'p', id, timestamp, progress, operation JSON ('' = unchanged), operation tree JSON ('' = unchanged)
#   'u', id, timestamp, usage JSON, '', ''  (what the job spent, right after the 'p' whose tree carried it)
# Each job's status is read once; writes of jobs that are not active are dropped.
# -> flat list id, status ('' = no such job) of the jobs whose writes were dropped
MESSAGES = _ACTIVE + """
local prefix, max_messages, max_events = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local status, refused, activity, lists = {}, {}, {}, {}
for i = 4, #ARGV, 6 do
  local id = ARGV[i + 1]
  local jk = prefix .. ':job:' .. id
  local st = status[id]
  if st == nil then
    st = redis.call('HGET', jk, 'status') or ''
    status[id] = st
    if not is_active(st) then refused[#refused + 1] = id; refused[#refused + 1] = st end
  end
  if is_active(st) then
    activity[jk] = ARGV[i + 2]
    if ARGV[i] == 'm' then
      if ARGV[i + 4] ~= '' then
        local lk = prefix .. ':msgs:' .. id .. ':' .. ARGV[i + 3]
        redis.call('RPUSH', lk, ARGV[i + 4])
        lists[lk] = true
      end
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', max_events, '*', 't', 'message', 'j', id, 'd', ARGV[i + 5])
    elseif ARGV[i] == 'u' then
      redis.call('HSET', jk, 'usage', ARGV[i + 3])
    else
      if ARGV[i + 5] ~= '' then redis.call('SET', prefix .. ':ops:' .. id, ARGV[i + 5]) end
      if ARGV[i + 4] ~= '' then
        redis.call('HSET', jk, 'progress', ARGV[i + 3], 'op', ARGV[i + 4])
      else
        redis.call('HSET', jk, 'progress', ARGV[i + 3])
      end
      local op = redis.call('HGET', jk, 'op') or ''
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', max_events, '*', 't', 'progress', 'j', id, 'p', ARGV[i + 3],
                 'a', ARGV[i + 2], 'o', op)
    end
  end
end
for lk in pairs(lists) do redis.call('LTRIM', lk, -max_messages, -1) end
for jk, ts in pairs(activity) do redis.call('HSET', jk, 'activity', ts) end
return refused
"""


def messages_args(writes: Sequence[Write], prefix: str, max_messages: int, max_events: int) -> list[str | int]:
    """ARGV of :data:`MESSAGES`. List entries are ``[text, timestamp]`` as JSON, exactly as ``MESSAGE`` stores them."""
    args: list[str | int] = [prefix, max_messages, max_events]
    for (job_id, write), keep in zip(writes, kept(writes, max_messages), strict=True):
        ts = repr(write.timestamp)
        if isinstance(write, JobMessage):
            entry = f"[{json_string(write.message)},{ts}]" if keep else ""
            args += ("m", job_id, ts, write.type._value_, entry, message_event(write))
        else:
            op = dumps_text(write.operation.to_dict()) if write.operation is not None else ""
            tree = write.operations.to_json() if write.operations is not None else ""
            args += ("p", job_id, ts, repr(write.value), op, tree)
            if write.operations is not None and write.operations.usage is not None:
                args += ("u", job_id, ts, write.operations.usage.to_json(), "", "")
    return args


# Retention, queued inside the MULTI that finishes a job.  KEYS: past.  ARGV: prefix, max_past_jobs,
# cutoff end time ('' = no age limit)
EVICT = """
local prefix = ARGV[1]
""" + _DROP + """
if ARGV[3] ~= '' then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])) do drop(id) end
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess - 1)) do drop(id) end
end
return 0
"""

# KEYS: past or past:<type>, events.  ARGV: prefix, max_events -> deleted ids, oldest ended first
DELETE_PAST = """
local prefix = ARGV[1]
""" + _DROP + """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  drop(id)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 't', 'removed', 'j', id, 'd', '{}')
end
return ids
"""

# Saved values (issue 21), checked against the bound and written in one step.  KEYS: job, saved.
# KEYS: job, saved, saved size. ARGV: limit (bytes), then key, JSON text, key, JSON text, ... (each key once)
# -> {-1, 0} unknown job, {0, 0} job finished, {2, total} beyond the bound (nothing written), {1, total} written.
# The kept total less what the incoming keys replace (HSTRLEN): a save reads its own keys, not every value the job
# saved. A job whose values were saved before the total was kept (an older jobdeck) is counted once, here.
SAVE = _ACTIVE + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {-1, 0} end
if not is_active(st) then return {0, 0} end
local total = redis.call('GET', KEYS[3])
if total then
  total = tonumber(total)
  for i = 2, #ARGV, 2 do total = total - redis.call('HSTRLEN', KEYS[2], ARGV[i]) end
else
  local incoming = {}
  for i = 2, #ARGV, 2 do incoming[ARGV[i]] = true end
  total = 0
  local kept = redis.call('HGETALL', KEYS[2])
  for i = 1, #kept, 2 do
    if not incoming[kept[i]] then total = total + string.len(kept[i + 1]) end
  end
end
for i = 2, #ARGV, 2 do total = total + string.len(ARGV[i + 1]) end
if total > tonumber(ARGV[1]) then return {2, total} end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('SET', KEYS[3], total)
return {1, total}
"""
