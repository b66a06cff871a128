"""Lua scripts of the Redis store: each multi-key step runs inside Redis as one atomic unit.

Key layout under a prefix ``P`` (one Redis database may hold several jobdeck deployments side by side)::

    P:job:<id>              hash   the job head (see redis.py ``_encode``)
    P:msgs:<id>:<kind>      list   JSON [text, timestamp], capped with LTRIM to max_messages (newest kept)
    P:active, P:active:<t>  zset   active job ids (all / of type t), score = start time
    P:past, P:past:<t>      zset   finished job ids, score = end time (newest last)
    P:events                stream the change log, MAXLEN ~ max_events; entry ids are the event ids

Scripts build some key names from the prefix, so the store targets a single Redis server (or a replica set),
not Redis Cluster.
"""

from __future__ import annotations

__all__ = ["DELETE_PAST", "EVICT", "INSERT", "MESSAGE", "PROGRESS", "STATS"]

_ACTIVE = "local function is_active(st) return st == 'running' or st == 'aborting' end\n"

# Remove a past job and everything that belongs to it. Needs `prefix` in scope.
_DROP = """
local function drop(id)
  local jk = prefix .. ':job:' .. id
  local t = redis.call('HGET', jk, 'type')
  redis.call('DEL', jk, prefix .. ':msgs:' .. id .. ':info', prefix .. ':msgs:' .. id .. ':warning',
             prefix .. ':msgs:' .. id .. ':error')
  redis.call('ZREM', prefix .. ':past', id)
  if t then redis.call('ZREM', prefix .. ':past:' .. t, id) end
end
"""

# KEYS: job, active, active:<type>, events
# ARGV: max_active (-1 = no limit), start score, id, max_events, created-event data, field, value, ...
# -> {0, active ids} on conflict, {1, event id} when inserted
INSERT = """
local max = tonumber(ARGV[1])
if max >= 0 and redis.call('ZCARD', KEYS[3]) >= max then
  return {0, redis.call('ZRANGE', KEYS[3], 0, -1)}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
local eid = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 't', 'created', 'j', ARGV[3], 'd', ARGV[5])
return {1, eid}
"""

# KEYS: job, events.  ARGV: id, progress, activity time, operation JSON ('' = unchanged), max_events
# -> -1 unknown job, 0 job finished, 1 written
PROGRESS = _ACTIVE + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if not is_active(st) then return 0 end
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

# KEYS: active, past.  ARGV: prefix -> flat list status, count, status, count, ...
STATS = """
local prefix = ARGV[1]
local counts = {}
for _, key in ipairs(KEYS) do
  for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local st = redis.call('HGET', prefix .. ':job:' .. id, 'status')
    if st then counts[st] = (counts[st] or 0) + 1 end
  end
end
local out = {}
for st, n in pairs(counts) do out[#out + 1] = st; out[#out + 1] = n end
return out
"""
