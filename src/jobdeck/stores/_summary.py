"""Past jobs at a glance: per type, how many ended in each terminal status, and the newest few runs.

This is what a dashboard needs to draw its cards (counts, the last runs' chart, the newest failure) without
listing the whole history: :meth:`~jobdeck.stores.base.Store.past_summary`. A backend answers it with two small
steps, ``_past_counts`` (jobs per type and status) and one ``_query_past`` per type with a ``LIMIT``; the generic
count below reads the heads of every past job (no messages), which a backend with a query language replaces
with a ``GROUP BY`` (SQLite), the memory store with a single pass under its lock, and the Redis store with the
counts it keeps per type and status (``_redis_index``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import InvalidArgumentError
from ..core.model import TERMINAL, JobInfo, JobStatus

if TYPE_CHECKING:
    from .base import Store

__all__ = ["MAX_RUNS", "Counts", "PastSummary", "check_runs", "count_heads", "generic_past_counts"]

MAX_RUNS = 200
# job type -> terminal status -> past jobs of that type that ended so
Counts = dict[str, dict[JobStatus, int]]


@dataclass(frozen=True, slots=True)
class PastSummary:
    """One job type's past jobs: ``counts`` per terminal status (every terminal status, zeros included) and the
    ``recent`` runs, newest ended first, without messages."""

    job_type: str
    counts: dict[JobStatus, int]
    recent: list[JobInfo] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, object]:
        """The JSON shape, ``recent`` left out (the API renders those jobs itself, from its byte cache)."""
        return {"jobType": self.job_type, "total": self.total,
                "counts": {status.value: self.counts.get(status, 0) for status in _ORDER}}


_ORDER = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED)


def check_runs(runs: object) -> int:
    if isinstance(runs, bool) or not isinstance(runs, int) or not 0 <= runs <= MAX_RUNS:
        raise InvalidArgumentError(f"runs must be a whole number from 0 to {MAX_RUNS}, got {runs!r}")
    return runs


def count_heads(jobs: Iterable[JobInfo]) -> Counts:
    """Past jobs per type and status, counted from their heads."""
    counts: Counts = {}
    for job in jobs:
        if job.status in TERMINAL:
            per_type = counts.setdefault(job.job_type, {})
            per_type[job.status] = per_type.get(job.status, 0) + 1
    return counts


def generic_past_counts(store: Store) -> Counts:
    """Counts through the store's list step: every past head, no message (O(past jobs))."""
    return count_heads(store.get_past_jobs(messages=False))
