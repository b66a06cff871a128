"""Failed jobs grouped by cause: what ``Store.failure_groups`` answers, and the generic way a store answers it.

A failed job carries its signature (set when it failed, :func:`~jobdeck.core.signature.signature_of`); a group is
every failed job with one signature: how many, when the first and the last of them ended, their job types and the
ids of the newest few. Groups come newest first (by their last failure). A backend with a query language counts
the groups in one ``GROUP BY`` and reads each group's newest ids off an index (SQLite, PostgreSQL); the memory
store makes one pass over its past jobs under its lock; the Redis store reads the failed jobs it keeps per (type,
signature) beside the jobs (``_redis_index``); :func:`generic_failure_groups` reads every failed head through the
past list. Jobs that failed before the signature was recorded (a store upgraded from an older jobdeck) have none and are
not grouped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.checks import TimeLike, as_timestamp, check_text
from ..core.errors import InvalidArgumentError
from ..core.model import JobInfo, JobStatus, PastCursor, format_time
from ._queries import PastQuery

if TYPE_CHECKING:
    from .base import Store

__all__ = ["MAX_GROUPS", "MAX_IDS", "FailureGroup", "FailureQuery", "GroupRow", "fold_rows",
           "generic_failure_groups", "group_heads"]

MAX_GROUPS = 500
MAX_IDS = 100
_FAILED = frozenset([JobStatus.FAILED])


@dataclass(slots=True)
class FailureGroup:
    """Failed jobs with one ``signature``: ``count`` of them, ended from ``first_seen`` to ``last_seen`` (POSIX
    seconds), of ``job_types`` (sorted), the newest ``job_ids`` (newest ended first) and ``message``: the newest
    one's error message, as an example of the group (None when it gave none)."""

    signature: str
    count: int
    first_seen: float
    last_seen: float
    job_types: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature, "message": self.message, "count": self.count,
                "firstSeen": format_time(self.first_seen), "lastSeen": format_time(self.last_seen),
                "jobTypes": list(self.job_types), "jobIds": list(self.job_ids)}


@dataclass(frozen=True, slots=True)
class FailureQuery:
    """Which failures: ended after ``since`` (None: all kept), of ``job_type`` (None: any); at most ``limit``
    groups, each with at most ``ids`` job ids."""

    since: float | None = None
    job_type: str | None = None
    limit: int = 50
    ids: int = 20

    @classmethod
    def build(cls, since: TimeLike | None, job_type: str | None, limit: int, ids: int) -> FailureQuery:
        for name, value, top in (("limit", limit, MAX_GROUPS), ("ids", ids, MAX_IDS)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise InvalidArgumentError(f"{name} must be a whole number from 0 to {top}, got {value!r}", name)
        if job_type is not None:
            check_text(job_type, "job_type")
        return cls(as_timestamp(since, "since"), job_type, limit, ids)


# One row of a store's GROUP BY signature, job_type: (signature, job type, count, first end, last end).
GroupRow = tuple[str, str, int, float, float]


def fold_rows(rows: Iterable[GroupRow], limit: int) -> list[FailureGroup]:
    """Groups from per-(signature, type) rows, newest group first, at most ``limit`` (ids not filled in)."""
    groups: dict[str, FailureGroup] = {}
    for signature, job_type, count, first, last in rows:
        group = groups.get(signature)
        if group is None:
            groups[signature] = FailureGroup(signature, count, first, last, [job_type])
            continue
        group.count += count
        group.first_seen = min(group.first_seen, first)
        group.last_seen = max(group.last_seen, last)
        group.job_types.append(job_type)
    ordered = sorted(groups.values(), key=lambda g: (-g.last_seen, g.signature))[:limit]
    for group in ordered:
        group.job_types.sort()
    return ordered


def group_heads(heads: Iterable[JobInfo], query: FailureQuery) -> list[FailureGroup]:
    """Groups from failed heads given newest ended first (the past list's order), as the query asks."""
    groups: dict[str, FailureGroup] = {}
    types: dict[str, set[str]] = {}
    for job in heads:
        if job.status is not JobStatus.FAILED or job.signature is None or job.end_time is None:
            continue
        if query.job_type is not None and job.job_type != query.job_type:
            continue
        if query.since is not None and job.end_time <= query.since:
            continue
        group = groups.get(job.signature)
        if group is None:
            group = groups[job.signature] = FailureGroup(job.signature, 0, job.end_time, job.end_time)
            types[job.signature] = set()
        group.count += 1
        group.first_seen = min(group.first_seen, job.end_time)
        group.last_seen = max(group.last_seen, job.end_time)
        types[job.signature].add(job.job_type)
        if len(group.job_ids) < query.ids:
            group.job_ids.append(job.id)
    ordered = sorted(groups.values(), key=lambda g: (-g.last_seen, g.signature))[:query.limit]
    for group in ordered:
        group.job_types = sorted(types[group.signature])
    return ordered


def generic_failure_groups(store: Store, query: FailureQuery) -> list[FailureGroup]:
    """Groups through the store's past list: every failed head since ``query.since`` (O(failed jobs), no
    message read), in pages."""
    types = frozenset([query.job_type]) if query.job_type is not None else None
    heads: list[JobInfo] = []
    before: PastCursor | None = None
    while True:
        page = store._query_past(PastQuery(types, _FAILED, query.since, before, 1000, 0))
        heads += page
        if len(page) < 1000:
            break
        before = PastCursor.of(page[-1])
    return group_heads(heads, query)
