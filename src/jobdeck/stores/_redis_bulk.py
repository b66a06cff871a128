"""The Redis store's deletion of past jobs by id (issue 22), as a mixin: one script, atomic like every other step
of the store. (Failure groups are read off kept indexes: ``_redis_counts``.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ._redis_scripts import DROP

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["DELETE_IDS", "RedisBulkSteps"]

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
    """``_delete_jobs`` in one script."""

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        store = cast("RedisStore", self)
        with store._errors():
            script = store._redis.register_script(DELETE_IDS)
            gone = script(keys=[store._set_key("past"), store._events_key], args=[store.prefix, store.max_events,
                                                                               *job_ids])
        return [g.decode() if isinstance(g, bytes) else str(g) for g in gone]
