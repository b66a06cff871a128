"""What the Redis store keeps beside its jobs so that counts, failure groups and id and author look-ups cost
the same whatever the size of the history (issue 26): Redis has no query language to count or group with, and a
script that looks at every job blocks every other client while it runs.

Keys under the prefix ``P`` (beside those of ``_redis_scripts``)::

    P:tally                 hash   "<status>:<type>" -> jobs of that type in that status (active and past);
                                   "~v" -> the version of these keys, present once they were built (see below)
    P:ids                   zset   every job id, score 0: ZRANGEBYLEX finds the ids that start with a prefix
    P:authors               hash   author -> past jobs by that author
    P:pstatus:<status>      zset   the past job ids that ended in that status, score = end time
    P:pauthor:<author>      zset   the author's past job ids, score = end time (like P:past)
    P:fails                 hash   "<type>\\0<signature>" -> failed past jobs of that type with that signature
    P:fsig:<type>\\0<sig>    zset   those jobs' ids, score = end time

(A job type holds no NUL character -- ``check_text`` refuses one -- so the NUL separates type and signature
without ambiguity.) Every step that creates, moves or removes a job keeps them in the same atomic unit: the
``INSERT`` script, the ``MULTI`` of a state change (:data:`TALLY`, queued beside the job's own writes) and the
``drop`` of ``_redis_scripts`` (eviction, ``cleanup_past_jobs``, ``delete_jobs``).

A store written by a jobdeck older than these keys has none of them: the first read that needs them runs
:data:`BUILD` once, one script that counts every job (atomic, so a change queued meanwhile lands before or
after it, never half-counted) and sets ``~v``. It costs one pass over the history, once per prefix. Writers
update the keys whether or not they were built (a count made before the build is replaced by the build's
recount). A process of an older jobdeck that keeps writing under the same prefix after the build does not keep
them: upgrade every process, or delete ``P:tally`` to have them built again.
"""

from __future__ import annotations

__all__ = ["BUILD", "FAILURES", "INDEX_DROP", "TALLY", "VERSION"]

VERSION = "1"

# Local helpers the scripts share. Need `prefix` in scope.
_HELPERS = """
local function bump(key, field, by)
  if redis.call('HINCRBY', key, field, by) <= 0 then redis.call('HDEL', key, field) end
end
local function into_past(id, t, st, author, sig, e)
  redis.call('ZADD', prefix .. ':pstatus:' .. st, e, id)
  if author then
    redis.call('ZADD', prefix .. ':pauthor:' .. author, e, id)
    bump(prefix .. ':authors', author, 1)
  end
  if st == 'failed' and sig then
    local f = t .. '\\0' .. sig
    redis.call('ZADD', prefix .. ':fsig:' .. f, e, id)
    bump(prefix .. ':fails', f, 1)
  end
end
"""

# The part of ``drop(id)`` (``_redis_scripts``) that forgets a past job in these keys; `h` is HMGET of the job's
# type, status, author, sig (before its hash is deleted).
INDEX_DROP = _HELPERS + """
local function unindex(id, h)
  redis.call('ZREM', prefix .. ':ids', id)
  if not h[1] then return end
  if h[2] then
    bump(prefix .. ':tally', h[2] .. ':' .. h[1], -1)
    redis.call('ZREM', prefix .. ':pstatus:' .. h[2], id)
  end
  if h[3] and redis.call('ZREM', prefix .. ':pauthor:' .. h[3], id) == 1 then bump(prefix .. ':authors', h[3], -1) end
  if h[2] == 'failed' and h[4] then
    local f = h[1] .. '\\0' .. h[4]
    if redis.call('ZREM', prefix .. ':fsig:' .. f, id) == 1 then bump(prefix .. ':fails', f, -1) end
  end
end
"""

# Queued inside the MULTI of a state change that changes the status or ends the job (before the eviction, which
# may drop this very job).  ARGV: prefix, id, type, old status, new status, ended ('1' or ''), author,
# signature ('' = none), end time
TALLY = """
local prefix = ARGV[1]
""" + _HELPERS + """
local id, t, old, new = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if old ~= new then
  bump(prefix .. ':tally', old .. ':' .. t, -1)
  bump(prefix .. ':tally', new .. ':' .. t, 1)
end
if ARGV[6] == '1' then into_past(id, t, new, ARGV[7], ARGV[8] ~= '' and ARGV[8] or nil, ARGV[9]) end
return 0
"""

# Build every key above from the jobs, once (when "~v" is missing).  KEYS: tally, active, past.
# ARGV: prefix, version -> 1 built, 0 there already
BUILD = """
local prefix = ARGV[1]
""" + _HELPERS + """
if redis.call('HEXISTS', KEYS[1], '~v') == 1 then return 0 end
for _, f in ipairs(redis.call('HKEYS', prefix .. ':fails')) do redis.call('DEL', prefix .. ':fsig:' .. f) end
for _, a in ipairs(redis.call('HKEYS', prefix .. ':authors')) do redis.call('DEL', prefix .. ':pauthor:' .. a) end
redis.call('DEL', KEYS[1], prefix .. ':ids', prefix .. ':fails', prefix .. ':authors', prefix .. ':pstatus:completed',
           prefix .. ':pstatus:failed', prefix .. ':pstatus:aborted')
for k = 2, 3 do
  local entries = redis.call('ZRANGE', KEYS[k], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local id = entries[i]
    local h = redis.call('HMGET', prefix .. ':job:' .. id, 'type', 'status', 'author', 'sig')
    if h[1] and h[2] then
      redis.call('ZADD', prefix .. ':ids', 0, id)
      bump(KEYS[1], h[2] .. ':' .. h[1], 1)
      if k == 3 then into_past(id, h[1], h[2], h[3] or nil, h[4] or nil, entries[i + 1]) end
    end
  end
end
redis.call('HSET', KEYS[1], '~v', ARGV[2])
return 1
"""

# Failure groups per (type, signature), from the keys above.  KEYS: fails.  ARGV: prefix, type ('' = any, with
# ARGV[5] = '1' when a type is given), low score ('-inf' or '(since'), ids per group
# -> per (type, signature) with jobs since: {signature, type, count, first end, last end, {id, end, id, end, ...}
#    newest first, the newest job's last error message (JSON [text, time]) or ''}
FAILURES = """
local prefix, low, n = ARGV[1], ARGV[3], tonumber(ARGV[4])
local out = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local nul = string.find(f, '\\0', 1, true)
  local t, sig = string.sub(f, 1, nul - 1), string.sub(f, nul + 1)
  if ARGV[5] ~= '1' or t == ARGV[2] then
    local k = prefix .. ':fsig:' .. f
    local count = redis.call('ZCOUNT', k, low, '+inf')
    if count > 0 then
      local first = redis.call('ZRANGEBYSCORE', k, low, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      local newest = redis.call('ZREVRANGEBYSCORE', k, '+inf', low, 'WITHSCORES', 'LIMIT', 0, math.max(n, 1))
      local said = redis.call('LINDEX', prefix .. ':msgs:' .. newest[1] .. ':error', -1)
      out[#out + 1] = {sig, t, count, first[2], newest[2], newest, said or ''}
    end
  end
end
return out
"""
