"""The worker registry's storage steps (issue 22): one record per process that runs jobs, kept as its JSON text
beside the time it was last seen, so that a backend can drop old records without parsing them.

A record is small (a few hundred bytes) and rewritten once per heartbeat round of its process; the registry is
read whole (a handful of rows), once per request that needs it, never per job.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["MemoryWorkers", "WorkerSteps"]


class WorkerSteps(Protocol):
    """A backend's storage of worker records (``Store._worker_steps()``)."""

    def put(self, worker_id: str, last_seen: float, text: str, drop_before: float) -> None:
        """Write (insert or replace) the record of ``worker_id``, and drop every record last seen before
        ``drop_before``."""

    def drop(self, worker_id: str) -> None:
        """Forget ``worker_id`` (a process that stops cleanly); nothing if it is not there."""

    def read(self, since: float) -> list[str]:
        """The texts of the records last seen at ``since`` or later (any order)."""


class MemoryWorkers:
    """:class:`WorkerSteps` in a dictionary, under the memory store's lock (held for a dictionary operation only):
    that lock is the one the store holds across ``fork()``, so a child never inherits it taken by another thread."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._records: dict[str, tuple[float, str]] = {}

    def put(self, worker_id: str, last_seen: float, text: str, drop_before: float) -> None:
        with self._lock:
            self._records[worker_id] = (last_seen, text)
            for key in [k for k, (seen, _) in self._records.items() if seen < drop_before]:
                del self._records[key]

    def drop(self, worker_id: str) -> None:
        with self._lock:
            self._records.pop(worker_id, None)

    def read(self, since: float) -> list[str]:
        with self._lock:
            return [text for seen, text in self._records.values() if seen >= since]
