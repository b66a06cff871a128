"""Serialised jobs, reused while a job is unchanged.

Turning a job into JSON costs about a microsecond per message (a dict and an ISO time each), so a list of jobs
carrying thousands of messages would be rebuilt from scratch on every poll although almost nothing changed: past
jobs never change at all, and an active job changes only where its signature (status, progress, activity and
heartbeat times, message counts and newest messages, ...) shows it. The cache keeps the bytes of each
(job, view) until the signature differs, bounded by total size and evicting the least recently used; an entry
no answer used for ``idle`` seconds goes too (a job removed by retention is never asked for again, and would
otherwise sit in the cache until the size bound pushed it out: under churn the cache would always be full).

One cache per app; it is only touched from the event loop's thread, so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..core.jsoncodec import compact, dumps
from ..core.model import TERMINAL, JobInfo, JobMessage

__all__ = ["DEFAULT_CACHE_BYTES", "DEFAULT_IDLE", "JobBytesCache"]

# Enough for the bytes of a full default history (1,000 past jobs) in two views; beyond it, least recently used
# jobs are serialised again. It bounds the server's steady-state memory under churn (see docs/design.md).
DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
# A dashboard left open asks for its jobs every few seconds; five minutes without a request means nobody looks.
DEFAULT_IDLE = 300.0
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
    encode, stored by an older version, is degraded on its own: see :mod:`jobdeck.core.jsoncodec`), from cache
    when unchanged."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES, idle: float = DEFAULT_IDLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.idle = idle
        self.size = 0
        self._clock = clock
        # (job id, messages kept, with the operation tree): a job in a listing and on its own page differ.
        # Each entry is [signature, bytes, last used], least recently used first.
        self._entries: OrderedDict[tuple[str, int | None, bool], list[Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def render(self, job: JobInfo, keep: int | None, now: float | None = None) -> bytes:
        now = self._clock() if now is None else now
        key = (job.id, keep, job.operations is not None)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is _FINAL:  # a finished job never changes again
            entry[2] = now
            self._entries.move_to_end(key)
            data: bytes = entry[1]
            return data
        sig = _FINAL if job.status in TERMINAL else signature(job)
        if entry is not None:
            if entry[0] == sig:
                entry[2] = now
                self._entries.move_to_end(key)
                data = entry[1]
                return data
            self.size -= len(entry[1])
            del self._entries[key]
        data = dumps(job.to_dict(keep))
        if len(data) <= self.max_bytes // 4:  # one huge job must not flush everything else
            data = compact(data)  # what the bound counts is what it holds
            self._entries[key] = [sig, data, now]
            self.size += len(data)
            self._evict(now)
        return data

    def _evict(self, now: float) -> None:
        """Drop from the cold end what exceeds the bound, and what nobody asked for within ``idle`` seconds."""
        entries, unused_since = self._entries, now - self.idle
        while entries:
            oldest = next(iter(entries.values()))
            if self.size <= self.max_bytes and oldest[2] >= unused_since:
                break
            _, gone = entries.popitem(last=False)
            self.size -= len(gone[1])

    def render_list(self, jobs: list[JobInfo], keep: int | None) -> bytes:
        """A JSON array of the jobs."""
        if not jobs:
            return b"[]"
        render = self.render
        parts = [b","] * (2 * len(jobs) + 1)  # "[", job, ",", job, ..., "]" joined once: one copy of the bytes
        parts[0], parts[-1] = b"[", b"]"
        now = self._clock()
        parts[1::2] = [render(job, keep, now) for job in jobs]
        return b"".join(parts)
