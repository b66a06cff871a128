"""Finding jobs: what a search means, and the generic way a store answers it.

A search is a few words; a job matches when every word matches it in one of these ways (case-insensitive):
its id starts with the word, its author contains it, its params (as JSON text) contain it, or one of its messages
contains it. Results come in the order of the job lists: the active jobs first (newest started first, all of them,
on the first page only), then one page of past jobs in the past list's order (newest ended first; ties by id),
continued with the past list's keyset cursor (:class:`~jobdeck.core.model.PastCursor` of the last past job of the
previous page), exactly as ``get_past_jobs(before=...)`` pages.
A backend with an index or a query language overrides
``Store._search``/``Store._find_ids``; :func:`generic_search` and :func:`generic_find_ids` work on any store
through its list steps, reading messages only for jobs whose head did not already match every word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.checks import check_text
from ..core.errors import InvalidArgumentError
from ..core.jsoncodec import dumps_text
from ..core.model import TERMINAL, JobInfo, JobStatus, PastCursor
from ._queries import PastQuery

if TYPE_CHECKING:
    from .base import Store

__all__ = ["MAX_WORDS", "SearchQuery", "generic_find_ids", "generic_search", "head_misses", "message_hit",
           "parse_prefix"]

MAX_WORDS = 8
MAX_WORD = 200
MIN_PREFIX = 6
_PREFIX = re.compile(r"^[0-9a-f-]+$")


@dataclass(frozen=True)
class SearchQuery:
    """Words (lower case), filters and how many jobs at most."""

    words: tuple[str, ...]
    job_type: str | None
    statuses: frozenset[JobStatus] | None
    limit: int
    before: PastCursor | None = None
    schedule_id: str | None = None  # only jobs started by this schedule (issue 23)
    signature: str | None = None  # only failed jobs with this signature (a group of failure_groups)

    def wants_active(self) -> bool:
        return self.before is None and (self.statuses is None or any(not s.is_terminal for s in self.statuses))

    def wants_past(self) -> bool:
        return self.statuses is None or bool(self.statuses & TERMINAL)

    @classmethod
    def build(cls, text: str | None, job_type: str | None, statuses: Iterable[JobStatus | str] | None,
              limit: int, before: PastCursor | str | None = None, *, schedule_id: str | None = None,
              signature: str | None = None) -> SearchQuery:
        if text is not None and not isinstance(text, str):
            raise InvalidArgumentError(f"search text must be a string, got {type(text).__name__}", "q")
        if text is not None and "\x00" in text:
            raise InvalidArgumentError(f"search text (q) {text[:80]!r} contains a NUL character (U+0000), which no "
                                       "job text holds", "q")
        if job_type is not None:
            check_text(job_type, "job_type")
        if schedule_id is not None:
            check_text(schedule_id, "schedule_id")
        words = tuple(dict.fromkeys((text or "").lower().split()))
        if len(words) > MAX_WORDS:
            raise InvalidArgumentError(f"search text has {len(words)} words; at most {MAX_WORDS} are allowed")
        if any(len(word) > MAX_WORD for word in words):
            raise InvalidArgumentError(f"a search word is longer than {MAX_WORD} characters")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
        wanted = None
        if statuses is not None:
            try:
                wanted = frozenset(JobStatus(s) for s in ([statuses] if isinstance(statuses, str) else statuses))
            except ValueError:
                known = ", ".join(s.value for s in JobStatus)
                raise InvalidArgumentError(f"unknown status in {statuses!r}; statuses are {known}") from None
        if isinstance(before, str):
            before = PastCursor.parse(before)
        elif before is not None and not isinstance(before, PastCursor):
            raise InvalidArgumentError(f"before must be a PastCursor or its text, got {type(before).__name__}",
                                       "before")
        if signature is not None:
            check_text(signature, "signature")
        return cls(words, job_type, wanted or None, limit, before, schedule_id, signature)


def parse_prefix(prefix: object) -> str:
    """A lower-case id prefix of at least 6 characters; ValueError otherwise."""
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"job id prefix must be a string, got {type(prefix).__name__}")
    text = prefix.strip().lower()
    if len(text) < MIN_PREFIX or not _PREFIX.match(text):
        raise InvalidArgumentError(f"job id prefix {prefix[:40]!r} is too short or not an id: give at least "
                                   f"{MIN_PREFIX} characters of the id (hex digits and hyphens)", "id")
    return text


def _params_text(job: JobInfo) -> str:
    # The very text the SQL stores keep and match (``null`` for none), so that every store finds the same jobs.
    return dumps_text(job.params).lower()


def head_misses(job: JobInfo, words: tuple[str, ...]) -> list[str]:
    """The words that the job's id, author and params do not match."""
    author = job.author.lower()
    params = None
    missing = []
    for word in words:
        if job.id.startswith(word) or word in author:
            continue
        if params is None:
            params = _params_text(job)
        if word not in params:
            missing.append(word)
    return missing


def message_hit(job: JobInfo, word: str) -> bool:
    return any(word in m.message.lower()
               for kind in (job.info_messages, job.warning_messages, job.error_messages) for m in kind)


def generic_search(store: Store, query: SearchQuery) -> list[JobInfo]:
    """Job heads through the list steps, messages read only where needed.

    Costs a pass over the jobs the store keeps from the cursor on (read in pages of the past list), plus one
    read with messages per job whose head misses a word.
    """
    statuses = query.statuses

    def matches(job: JobInfo) -> bool:
        if statuses is not None and job.status not in statuses:
            return False
        if query.schedule_id is not None and job.schedule_id != query.schedule_id:
            return False
        if query.signature is not None and job.signature != query.signature:
            return False
        missing = head_misses(job, query.words)
        if not missing:
            return True
        full = store._read(job.id, None)
        return full is not None and all(message_hit(full, word) for word in missing)

    out: list[JobInfo] = []
    if query.wants_active():
        out += [job for job in reversed(store._query_active(query.job_type, 0)) if matches(job)]
    if query.wants_past():
        types = frozenset([query.job_type]) if query.job_type is not None else None
        past = frozenset(statuses & TERMINAL) if statuses is not None else None
        found, before, chunk = 0, query.before, max(query.limit, 100)
        while found < query.limit:
            page = store._query_past(PastQuery(types, past, None, before, chunk, 0))
            for job in page:
                if matches(job):
                    out.append(job)
                    found += 1
                    if found >= query.limit:
                        break
            if len(page) < chunk:
                break
            before = PastCursor.of(page[-1])
    return out


def generic_find_ids(store: Store, prefix: str, limit: int) -> list[str]:
    jobs = [*store._query_active(None, 0), *store._query_past(PastQuery(keep=0))]
    return sorted(job.id for job in jobs if job.id.startswith(prefix))[:limit]
