"""The Redis store's steps for the operator's many-job views (issue 22), as a mixin: failure groups read from the
past set and four fields of each job's hash (no index holds the signature: every past job since ``since`` is
looked at, a few fields each, in pipelined trips), and deletion of past jobs by id in one script."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ..core.model import JobInfo, JobStatus
from ._failures import FailureGroup, FailureQuery, group_heads
from ._redis_scripts import DROP

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["DELETE_IDS", "RedisBulkSteps"]

_TRIP = 1000  # hashes read per pipelined round trip

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
    """``_failure_groups`` from the past set and four fields per job; ``_delete_jobs`` in one script: atomic, like
    every other step of the store."""

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        store = cast("RedisStore", self)
        store._catch_up()
        low = "-inf" if query.since is None else f"({query.since!r}"
        heads: list[JobInfo] = []
        with store._errors():
            ids = store._redis.zrevrangebyscore(store._set_key("past", query.job_type), "+inf", low)
            for i in range(0, len(ids), _TRIP):
                pipe = store._redis.pipeline(transaction=False)  # past jobs never change again
                for job_id in ids[i:i + _TRIP]:
                    pipe.hmget(store._job_key(job_id), "status", "sig", "type", "end")
                for job_id, (status, sig, job_type, end) in zip(ids[i:i + _TRIP], pipe.execute(), strict=True):
                    if status == JobStatus.FAILED.value and sig is not None and end is not None:
                        heads.append(JobInfo(job_id, job_type, "", JobStatus.FAILED, end_time=float(end),
                                             signature=sig, start_time=0.0, last_activity_time=1.0))
        return group_heads(heads, query)

    def _delete_jobs(self, job_ids: list[str]) -> list[str]:
        store = cast("RedisStore", self)
        with store._errors():
            script = store._redis.register_script(DELETE_IDS)
            gone = script(keys=[store._set_key("past"), store._events_key], args=[store.prefix, store.max_events,
                                                                               *job_ids])
        return [g.decode() if isinstance(g, bytes) else str(g) for g in gone]
