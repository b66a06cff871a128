"""Serialised jobs, reused while a job is unchanged.

Turning a job into JSON costs about a microsecond per message (a dict and an ISO time each), so a list of jobs
carrying thousands of messages would be rebuilt from scratch on every poll although almost nothing changed: past
jobs never change at all, and an active job changes only where its signature (status, progress, activity and
heartbeat times, message counts and newest messages, ...) shows it. The cache keeps the bytes of each
(job, view) until the signature differs, bounded by total size and evicting the least recently used.

One cache per app; it is only touched from the event loop's thread, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .._json import compact, dumps
from ..model import TERMINAL, JobInfo, JobMessage

__all__ = ["DEFAULT_CACHE_BYTES", "JobBytesCache"]

# Enough for the bytes of a full default history (1,000 past jobs) in two views; beyond it, least recently used
# jobs are serialised again. It bounds the server's steady-state memory under churn (see docs/design.md).
DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
# The signature of a job in a terminal state: terminal states are final, so its bytes never go stale (it can
# only be removed, and a removed job is not listed).
_FINAL: tuple[Any, ...] = ("final",)


def _last(messages: list[JobMessage]) -> JobMessage | None:
    return messages[-1] if messages else None


def signature(job: JobInfo) -> tuple[Any, ...]:
    """Everything that can change in a stored job. Message lists only grow at the end (the oldest drop off at
    the cap), so their length and newest entry stand for their content."""
    info, warning, error = job.info_messages, job.warning_messages, job.error_messages
    return (job.status, job.progress, job.last_activity_time, job.end_time, job.heartbeat_time, job.owner,
            job.abort_time, job.abort_reason, job.current_operation, job.operations,
            len(info), len(warning), len(error), _last(info), _last(warning), _last(error))


class JobBytesCache:
    """``render(job, keep)`` -> the bytes of ``dumps(job.to_dict(keep))`` (orjson; a value it cannot
    encode, stored by an older version, is degraded on its own: see :mod:`jobdeck._json`), from cache when unchanged."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        # (job id, messages kept, with the operation tree): a job in a listing and on its own page differ.
        self._entries: OrderedDict[tuple[str, int | None, bool], tuple[tuple[Any, ...], bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def render(self, job: JobInfo, keep: int | None) -> bytes:
        key = (job.id, keep, job.operations is not None)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is _FINAL:  # a finished job never changes again
            self._entries.move_to_end(key)
            return entry[1]
        sig = _FINAL if job.status in TERMINAL else signature(job)
        if entry is not None:
            if entry[0] == sig:
                self._entries.move_to_end(key)
                return entry[1]
            self.size -= len(entry[1])
            del self._entries[key]
        data = dumps(job.to_dict(keep))
        if len(data) <= self.max_bytes // 4:  # one huge job must not flush everything else
            data = compact(data)  # what the bound counts is what it holds
            self._entries[key] = (sig, data)
            self.size += len(data)
            while self.size > self.max_bytes:
                _, (_, old) = self._entries.popitem(last=False)
                self.size -= len(old)
        return data

    def render_list(self, jobs: list[JobInfo], keep: int | None) -> bytes:
        """A JSON array of the jobs."""
        if not jobs:
            return b"[]"
        render = self.render
        parts = [b","] * (2 * len(jobs) + 1)  # "[", job, ",", job, ..., "]" joined once: one copy of the bytes
        parts[0], parts[-1] = b"[", b"]"
        parts[1::2] = [render(job, keep) for job in jobs]
        return b"".join(parts)
