"""The arguments of the store's reads, checked once and turned into what a backend's steps take: which messages
a read returns (:func:`message_view`) and one page of past jobs (:class:`PastQuery`, built by
:func:`past_query` from ``get_past_jobs``'s arguments). Every mistake is an InvalidArgumentError naming the
argument, before any backend is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..core.checks import TimeLike, as_timestamp, check_text
from ..core.errors import InvalidArgumentError
from ..core.model import JobInfo, JobStatus, PastCursor

__all__ = ["Messages", "PastQuery", "message_view", "past_query"]

# Which messages a read returns: True all of them, False none, N the newest N of each kind (0: none).
Messages = bool | int


def message_view(messages: Messages) -> int | None:
    """``messages`` as the backends take it (and ``JobInfo.to_dict``): None for all, N for the newest N."""
    if messages is True:
        return None
    if messages is False:
        return 0
    if not isinstance(messages, int) or messages < 0:
        raise InvalidArgumentError(
            f"messages must be True (all), False (none) or a count >= 0 of the newest of each kind, got {messages!r}")
    return messages


@dataclass(frozen=True, slots=True)
class PastQuery:
    """One page of past jobs, as a backend's ``_query_past`` receives it (already validated).

    Order: end time, then id, both descending (newest ended first). Every field narrows the answer inside the
    backend's own query, so that a read costs what it returns:

    - ``job_types``, ``statuses``: only these (None: any);
    - ``start_from``: only jobs that ended after this time;
    - ``before``: only jobs after this cursor in the order above (keyset paging);
    - ``limit``: at most this many (None: all);
    - ``keep``: messages of each kind to include: None all, N the newest N, 0 none (message rows are then not
      read at all).
    """

    job_types: frozenset[str] | None = None
    statuses: frozenset[JobStatus] | None = None
    start_from: float | None = None
    before: PastCursor | None = None
    limit: int | None = None
    keep: int | None = None

    def matches(self, job: JobInfo) -> bool:
        """Whether a past job belongs in the answer (filters only: not ``limit``). For backends that filter
        after reading the head, and for tests."""
        end = job.end_time or 0.0
        return ((self.job_types is None or job.job_type in self.job_types)
                and (self.statuses is None or job.status in self.statuses)
                and (self.start_from is None or end > self.start_from)
                and (self.before is None or (end, job.id) < (self.before.end_time, self.before.id)))


def past_query(job_type: str | Iterable[str] | None, statuses: Iterable[JobStatus | str] | None,
               start_from: TimeLike | None, *, messages: Messages, limit: int | None,
               before: PastCursor | str | None) -> PastQuery:
    """``Store.get_past_jobs``'s arguments, checked, as one :class:`PastQuery`."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidArgumentError(f"limit must be a positive whole number, got {limit!r}")
    if isinstance(before, str):
        before = PastCursor.parse(before)
    elif before is not None and not isinstance(before, PastCursor):
        raise InvalidArgumentError(f"before must be a PastCursor or its text, got {type(before).__name__}")
    types: frozenset[str] | None = None
    if isinstance(job_type, str):
        types = frozenset([job_type])
    elif job_type is not None:
        types = frozenset(job_type)
        if not all(isinstance(t, str) for t in types):
            raise InvalidArgumentError(f"job_type must be a string or strings, got {sorted(map(repr, types))}")
    for one in types or ():
        check_text(one, "job_type")
    wanted: frozenset[JobStatus] | None = None
    if statuses is not None:
        if isinstance(statuses, str):
            statuses = [statuses]
        parsed = set()
        for s in statuses:
            try:
                status = JobStatus(s)
            except ValueError:
                raise InvalidArgumentError(
                    f"unknown status {s!r}; past statuses are completed, failed, aborted") from None
            parsed.add(status)
        wanted = frozenset(parsed)
    return PastQuery(types, wanted, as_timestamp(start_from, "start_from"), before, limit, message_view(messages))
