"""``GET /past``: one page of finished jobs, or the whole history streamed.

Every filter, the page size, the keyset cursor and the message view go into the store's query
(:meth:`~jobdeck.stores.base.Store.get_past_jobs`), so an answer costs what it returns:

- ``limit=N``: one page, answered whole (and cached like the other lists). When the page is full, the
  ``X-Jobdeck-Next`` header carries the cursor of its last job: pass it as ``before`` for the next page. The
  last page has no such header (or is empty).
- no ``limit`` (the reference's query shape): every matching job. An answer larger than one chunk is streamed,
  a chunk of jobs at a time read through the same cursor, so the server holds one chunk, never the whole answer.
- ``X-Jobdeck-Cursor`` (both): pass it as ``startFrom`` to get only the jobs that ended since (polling).

``GET /past/summary?runs=N`` is the small answer a dashboard draws its cards from: per job type with past jobs,
the count per terminal status and the ``runs`` newest past jobs without messages
(:meth:`~jobdeck.stores.base.Store.past_summary`): one count and one ``LIMIT`` query per type, however long the
history.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from ..core.model import JobStatus, PastCursor, format_time
from ..stores.base import MAX_SUMMARY_RUNS
from ._deck import Deck
from ._serialize import JSON, MessagesView, answer_response

__all__ = [
    "CURSOR_OVERLAP",
    "MAX_SUMMARY_RUNS",
    "NEXT_HEADER",
    "STREAM_CHUNK_ALL",
    "STREAM_CHUNK_SUMMARY",
    "SUMMARY_RUNS",
    "PastParams",
    "past_answer",
    "summary_answer",
]

# X-Jobdeck-Cursor lies this far before the query: a job that ended just before it but was written a little
# later (another process, a slow commit, clock skew) is still returned next time. Clients upsert by id.
CURSOR_OVERLAP = 5.0
NEXT_HEADER = "X-Jobdeck-Next"
SUMMARY_RUNS = 20  # newest past jobs per type in /past/summary unless ``runs`` says otherwise
# Jobs per streamed chunk: with every message a job holds up to 3 x max_messages of them (~1 MB at the default
# cap); without, a job is ~1 KB.
STREAM_CHUNK_ALL = 16
STREAM_CHUNK_SUMMARY = 500


@dataclass(frozen=True, slots=True)
class PastParams:
    """The parsed query of one ``GET /past`` request."""

    job_type: str | frozenset[str] | None
    statuses: list[JobStatus] | None
    since: float | None
    before: PastCursor | None
    limit: int | None
    view: MessagesView

    def key(self) -> Any:
        """The answer cache's key for this query."""
        return ("past", self.job_type, frozenset(self.statuses) if self.statuses else None, self.since, self.limit,
                self.before, self.view.keep)


class _TooLarge(Exception):
    """The unlimited answer is more than one chunk: stream it instead of building (and caching) it whole."""


def _chunk(deck: Deck, params: PastParams, before: PastCursor | None,
           limit: int) -> tuple[bytes, int, PastCursor | None]:
    """One chunk read and serialised in a worker thread: its bytes (jobs joined by commas), count, last cursor."""
    view = params.view
    jobs = deck.store.get_past_jobs(params.job_type, params.statuses, params.since, messages=view.messages,
                                    limit=limit, before=before)
    body = b",".join([orjson.dumps(job.to_dict(view.keep)) for job in jobs])
    return body, len(jobs), PastCursor.of(jobs[-1]) if jobs else None


async def _stream(deck: Deck, params: PastParams, chunk: int) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    before = params.before
    while True:
        body, count, before = await deck.call(_chunk, deck, params, before, chunk)
        if count:
            yield body if first else b"," + body
            first = False
        if count < chunk:
            break
    yield b"]"


async def past_answer(deck: Deck, params: PastParams) -> Response:
    """The answer of ``GET /past``: one page (cached), or the whole matching history streamed."""
    store = deck.store
    limit = params.limit
    chunk = STREAM_CHUNK_ALL if params.view.keep is None else STREAM_CHUNK_SUMMARY
    read = limit if limit is not None else chunk + 1

    async def build() -> tuple[bytes, dict[str, str] | None]:
        # The cursor is the time this query ran (minus the overlap) and travels with its body: an answer
        # served from the cache later carries the cursor of the query that built it, never a later one.
        now = time.time()
        jobs = await deck.call(store.get_past_jobs, params.job_type, params.statuses, params.since,
                               messages=params.view.messages, limit=read, before=params.before)
        if limit is None and len(jobs) > chunk:
            raise _TooLarge
        headers = {"X-Jobdeck-Cursor": format_time(now - CURSOR_OVERLAP) or ""}
        if limit is not None and len(jobs) == limit:
            headers[NEXT_HEADER] = str(PastCursor.of(jobs[-1]))
        return deck.cache.render_list(jobs, params.view.keep), headers

    try:
        return answer_response(await deck.answer(params.key(), build))
    except _TooLarge:
        pass
    headers = {"X-Jobdeck-Cursor": format_time(time.time() - CURSOR_OVERLAP) or ""}
    return StreamingResponse(_stream(deck, params, chunk), media_type=JSON, headers=headers)


async def summary_answer(deck: Deck, runs: int) -> Response:
    """The answer of ``GET /past/summary``: ``[{"jobType", "total", "counts": {status: n}, "recent": [job]}]``,
    types by name, ``recent`` newest ended first (cached like the lists)."""

    async def build() -> tuple[bytes, dict[str, str] | None]:
        summaries = await deck.call(deck.store.past_summary, runs)
        parts = [orjson.dumps(summary.to_dict())[:-1] + b',"recent":' + deck.cache.render_list(summary.recent, 0)
                 + b"}" for summary in summaries]
        return b"[" + b",".join(parts) + b"]", None

    return answer_response(await deck.answer(("past-summary", runs), build))
