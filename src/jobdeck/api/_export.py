"""The jobs a search matches as CSV: ``GET /search?format=csv``, a download a spreadsheet opens safely.

Every matching job, one row each (active ones first, then past ones in the past list's order), read page by page
from the store while the answer streams, so that a large export never sits whole in memory. The cells are written
by :mod:`csv` (RFC 4180: a cell with a comma, a quote or a line break is quoted, quotes doubled; lines end in CRLF);
a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that a
spreadsheet shows it as text instead of running it as a formula (OWASP "CSV injection"): job params, authors and
error messages are whatever the job's starter or its code wrote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.responses import StreamingResponse

from ..core.jsoncodec import dumps_text
from ..core.model import JobInfo, JobStatus, PastCursor, format_time
from ..stores.base import Store
from ._deck import Deck

__all__ = ["COLUMNS", "csv_lines", "csv_response", "safe_cell"]

COLUMNS = ("id", "jobType", "status", "author", "startTime", "endTime", "durationSeconds", "attempt", "error",
           "params")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_PAGE = 200


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it and never evaluates: a leading formula character is escaped with ``'``."""
    return "'" + value if value.startswith(_FORMULA) else value


def _error_line(job: JobInfo) -> str:
    if not job.error_messages:
        return ""
    return job.error_messages[-1].message.strip().split("\n", 1)[0]


def _row(job: JobInfo) -> list[str]:
    duration = "" if job.end_time is None else f"{job.end_time - job.start_time:.3f}"
    return [safe_cell(cell) for cell in (
        job.id, job.job_type, job.status.value, job.author, format_time(job.start_time) or "",
        format_time(job.end_time) or "", duration, str(job.attempt), _error_line(job), dumps_text(job.params))]


def csv_lines(jobs: Iterable[JobInfo], header: bool = False) -> str:
    """The rows of ``jobs`` (with their last error message read, if any), preceded by the header if asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for job in jobs:
        writer.writerow(_row(job))
    return out.getvalue()


def _page(store: Store, text: str | None, criteria: dict[str, Any],
          before: PastCursor | None) -> tuple[str, PastCursor | None]:
    """One page of rows and the cursor of the next (None: it was the last); ``criteria``: search_jobs's filters."""
    jobs = store.search_jobs(text, limit=_PAGE, before=before, **criteria)
    for i, job in enumerate(jobs):
        if job.status is JobStatus.FAILED:  # only failed jobs' error lines are read: one read each
            full = store.get_job(job.id)
            if full is not None:
                jobs[i] = full
    past = [job for job in jobs if job.end_time is not None]
    following = PastCursor.of(past[-1]) if len(past) >= _PAGE else None
    return csv_lines(jobs, header=before is None), following


async def csv_response(deck: Deck, text: str | None, job_type: str | None,
                       statuses: list[JobStatus] | None, signature: str | None = None) -> StreamingResponse:
    """The CSV of every job the search matches, a page at a time, as a download; UTF-8 with a byte order mark
    (which tells a spreadsheet the encoding). The first page is read before answering, so that a search the store
    refuses is a 400 (its ValueError, for the caller to map) rather than a broken download."""
    store = deck.store
    criteria = {"job_type": job_type, "statuses": statuses, "signature": signature}
    first, following = await deck.call(_page, store, text, criteria, None)

    async def pages() -> AsyncIterator[bytes]:
        yield b"\xef\xbb\xbf" + first.encode()
        after = following
        while after is not None:
            rows, after = await deck.call(_page, store, text, criteria, after)
            yield rows.encode()

    return StreamingResponse(pages(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="jobs.csv"'})
