"""The processes that run jobs, as plain data: what a worker says about itself each time it heartbeats.

Every process that runs handlers (``jobdeck serve`` with the local executor, every ``jobdeck worker``) keeps one
record in the store (:meth:`jobdeck.stores.base.Store.beat_worker`), rewritten each heartbeat round. A record whose
``last_seen`` is older than the store's ``stale_after`` belongs to a process that is gone (killed, or cut off from
the store); one older than :data:`WORKER_RETENTION` is dropped from the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from .model import format_time, parse_time

__all__ = ["WORKER_RETENTION", "RunningRef", "WorkerInfo"]

#: How long a gone worker stays listed (seconds): long enough to see which process served a type before it died,
#: short enough that restarts on a busy host do not fill the list.
WORKER_RETENTION = 3600.0


class RunningRef(NamedTuple):
    """A job a worker runs now: its id, type and when this run began (so that a reader of the workers alone can
    say who holds a slot and for how long)."""

    id: str
    job_type: str
    started_time: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "jobType": self.job_type, "startedTime": format_time(self.started_time)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunningRef:
        return cls(str(data["id"]), str(data["jobType"]), parse_time(data["startedTime"]) or 0.0)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One process that runs jobs. ``id`` is its owner token (``host:pid:token``, as its jobs record it);
    ``concurrency`` how many jobs it runs at once (None: no bound of its own, as the local executor's threads);
    ``jobs`` what it runs now; ``last_seen`` its latest heartbeat (POSIX seconds). Frozen: a store hands the same
    object to every read while the record is unchanged."""

    id: str
    host: str
    pid: int
    executor: str
    job_types: tuple[str, ...]
    concurrency: int | None
    started_time: float
    last_seen: float = 0.0
    jobs: tuple[RunningRef, ...] = ()

    def live(self, now: float, stale_after: float) -> bool:
        """Whether it heartbeated within ``stale_after`` (the store's: the same window that fails its jobs)."""
        return now - self.last_seen <= stale_after

    def heartbeat_age(self, now: float) -> float:
        """Seconds since its last heartbeat, to the millisecond and rounded *up*: rounding to nearest would show a
        worker gone by 0.4 ms as exactly ``stale_after`` old, an age at which :meth:`live` still holds."""
        return math.ceil(max(0.0, now - self.last_seen) * 1000) / 1000

    def free_slots(self) -> int | None:
        """Jobs it could take now (None: no bound)."""
        return None if self.concurrency is None else max(0, self.concurrency - len(self.jobs))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "executor": self.executor,
                "jobTypes": list(self.job_types), "concurrency": self.concurrency,
                "startedTime": format_time(self.started_time), "lastSeen": format_time(self.last_seen),
                "jobs": [j.to_dict() for j in self.jobs]}

    def to_record(self) -> dict[str, Any]:
        """The compact form a store keeps (times as POSIX seconds: read back without parsing dates)."""
        return {"id": self.id, "host": self.host, "pid": self.pid, "executor": self.executor,
                "types": list(self.job_types), "concurrency": self.concurrency, "started": self.started_time,
                "seen": self.last_seen, "jobs": [[j.id, j.job_type, j.started_time] for j in self.jobs]}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> WorkerInfo:
        """The inverse of :meth:`to_record`."""
        concurrency = data.get("concurrency")
        return cls(str(data["id"]), str(data["host"]), int(data["pid"]), str(data["executor"]),
                   tuple(str(t) for t in data.get("types") or ()),
                   int(concurrency) if concurrency is not None else None,
                   float(data["started"]), float(data["seen"]),
                   tuple(RunningRef(str(i), str(t), float(at)) for i, t, at in data.get("jobs") or ()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerInfo:
        """The inverse of :meth:`to_dict` (what a store keeps is that JSON)."""
        concurrency = data.get("concurrency")
        return cls(str(data["id"]), str(data["host"]), int(data["pid"]), str(data["executor"]),
                   tuple(str(t) for t in data.get("jobTypes") or ()),
                   int(concurrency) if concurrency is not None else None,
                   parse_time(data["startedTime"]) or 0.0, parse_time(data["lastSeen"]) or 0.0,
                   tuple(RunningRef.from_dict(j) for j in data.get("jobs") or ()))
