"""Reading jobs: the active list, the past (paged or streamed) and its summary, one job, a job's messages.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`. Handlers take the bare request and read their query
values themselves (:mod:`jobdeck.api._query`): FastAPI's per-parameter validation costs more than serving a cached
job list does. Each route's parameters are declared once, with it, for the OpenAPI description.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.jsoncodec import dumps
from ..core.model import TERMINAL, JobInfo, JobStatus
from ..stores.base import Store
from . import _schemas as schemas
from ._deck import Deck
from ._diagnosis import Diagnoser, render_diagnosed, with_diagnosis
from ._errors import ApiError
from ._locale import request_locale
from ._openapi import (
    AUTH_ERRORS,
    CURSOR,
    ID_ERRORS,
    JOB_ID,
    JOB_TYPE,
    MAX_LIMIT,
    MESSAGES,
    TIME,
    Routes,
    param,
)
from ._past import MAX_SUMMARY_RUNS, NEXT_HEADER, SUMMARY_RUNS, PastParams, past_answer, summary_answer
from ._query import IntParam, job_types, keep_types, parse_cursor, query_list
from ._serialize import (
    MessagesView,
    answer_response,
    json_response,
    message_page,
    parse_job_id,
    parse_messages,
    parse_time_param,
)

__all__ = ["START_FROM_OVERLAP", "build_reading_routes"]

# A client-supplied startFrom is moved this far back. The reference client sets its cursor from its own clock
# after the answers arrived, so a job that ended between the server's query and that moment would be in
# neither list; the overlap returns it again (clients upsert by id, as the reference client does).
START_FROM_OVERLAP = 5.0
_PAST_STATUS = "\\s*(completed|failed|aborted)\\s*"
_PAST_LIMIT = IntParam("limit", "at most this many jobs (one page)", 1, MAX_LIMIT)
_RUNS = IntParam("runs", f"newest past jobs per type (default {SUMMARY_RUNS})", 0, MAX_SUMMARY_RUNS, SUMMARY_RUNS)
_MESSAGES_LIMIT = IntParam("limit", "page size (default 1000)", 1, MAX_LIMIT, 1000)


def _past_statuses(values: list[str] | None) -> list[JobStatus] | None:
    if not values:
        return None
    wanted = []
    for item in values:
        for name in item.split(","):
            try:
                status = JobStatus(name.strip())
            except ValueError:
                status = None
            if status is None or status not in TERMINAL:
                raise ApiError(400, f"unknown status {name!r} in statuses; past jobs are completed, failed or "
                                    "aborted")
            wanted.append(status)
    return wanted



def _single(store: Store, job_id: str, view: MessagesView, diagnoser: Diagnoser) -> tuple[JobInfo, list[str], Any]:
    """The job with its operation tree, the keys of its saved values and its diagnosis (one trip to the thread
    pool)."""
    job = store.require_job(job_id, messages=view.messages, operations=True)
    return job, store.saved_keys(job_id), diagnoser.of(job)


def _active(store: Store, job_type: str | None, view: MessagesView, diagnoser: Diagnoser) -> tuple[list[JobInfo],
                                                                                                   Diagnoser]:
    """The active jobs, and the worker registry read once for their diagnoses (one trip to the thread pool)."""
    jobs = store.get_active_jobs(job_type, messages=view.messages)
    if jobs:
        diagnoser.scene  # noqa: B018 - read here, in the pool: the scene's worker read may block
    return jobs, diagnoser


def _with_saved_keys(job: bytes, keys: list[str]) -> bytes:
    """The job's JSON object with ``savedKeys`` added. Outside the bytes cache: a save emits no event and changes
    nothing in the job's signature, so cached bytes with the keys in them could stay stale for good."""
    return b"".join((job[:-1], b',"savedKeys":', dumps(keys), b"}"))


def build_reading_routes(deck: Deck) -> Routes:
    """The endpoints that read jobs, bound to ``deck``."""
    routes = Routes()
    store = deck.store
    authenticate = deck.auth.authenticate

    @routes.get("/active", responses={200: {"model": schemas.JobList}, **AUTH_ERRORS},
                params=(JOB_TYPE, MESSAGES), summary="Queued, running and aborting jobs, oldest first")
    async def active(request: Request) -> Response:
        await authenticate(request)
        query = request.query_params
        view = parse_messages(query.get("messages"))
        job_type, several = job_types(request)

        lang = request_locale(request)

        async def build() -> tuple[bytes, dict[str, str] | None]:
            found, diagnoser = await deck.call(_active, store, job_type, view, Diagnoser(store, deck.runner, lang))
            jobs = keep_types(found, several)
            return render_diagnosed(deck.cache, jobs, view.keep, diagnoser.all_json(jobs)), None

        return answer_response(await deck.answer(("active", several or job_type, view.keep, lang), build))

    @routes.get("/past", responses={200: {"model": schemas.JobList, "headers": {
        "X-Jobdeck-Cursor": {"description": "pass as startFrom next time (overlaps a little: upsert by id)",
                             "schema": {"type": "string"}},
        NEXT_HEADER: {"description": "with limit, when the page is full: pass as before for the next page",
                      "schema": {"type": "string"}}}}, **AUTH_ERRORS},
        summary="Finished jobs, most recently ended first (ties by id); streamed when there is no limit",
        params=(
            JOB_TYPE,
            param("statuses", "completed, failed or aborted (repeatable, or comma-separated)", {
                "type": "array", "items": {"type": "string", "pattern": f"^{_PAST_STATUS}(,{_PAST_STATUS})*$"}}),
            param("startFrom", f"only jobs that ended after this time (ISO 8601), minus {START_FROM_OVERLAP:g} s of "
                               "overlap (upsert by id)", TIME),
            MESSAGES,
            _PAST_LIMIT.spec,
            param("before", f"only jobs after this cursor (the {NEXT_HEADER} header of the previous page)", CURSOR)))
    async def past(request: Request) -> Response:
        await authenticate(request)
        query = request.query_params
        view = parse_messages(query.get("messages"))
        wanted = _past_statuses(query_list(request, "statuses"))
        since = parse_time_param("startFrom", query.get("startFrom"))
        if since is not None:
            since -= START_FROM_OVERLAP
        limit = _PAST_LIMIT.read(request)
        job_type, several = job_types(request)
        before = parse_cursor(query.get("before"))
        types = several if several is not None else job_type
        return await past_answer(deck, PastParams(types, wanted, since, before, limit, view))

    @routes.get("/past/summary", responses={200: {"model": list[schemas.PastSummary]}, **AUTH_ERRORS},
                summary="Per job type: past jobs per status and the newest runs (no messages)",
                params=(_RUNS.spec,))
    async def past_summary(request: Request) -> Response:
        await authenticate(request)
        runs = _RUNS.read(request)
        return await summary_answer(deck, SUMMARY_RUNS if runs is None else runs)

    @routes.get("/single/{job_id}/progress", responses={200: {"model": schemas.SingleJob}, **ID_ERRORS},
                params=(JOB_ID, MESSAGES), summary="One job, with its operation tree and the keys of its saved values")
    async def progress(request: Request) -> Response:
        await authenticate(request)
        job_id = parse_job_id(request.path_params["job_id"])
        view = parse_messages(request.query_params.get("messages"))
        lang = request_locale(request)

        async def build() -> tuple[bytes, dict[str, str] | None]:
            # The one view that carries the operation tree and the saved keys: both are bounded but cost reads of
            # their own, which the lists (/active, /past, /search) and the events must not pay per job.
            job, keys, diagnosis = await deck.call(_single, store, job_id, view, Diagnoser(store, deck.runner, lang))
            return with_diagnosis(_with_saved_keys(deck.cache.render(job, view.keep), keys), diagnosis), None

        return answer_response(await deck.answer(("progress", job_id, view.keep, lang), build))

    @routes.get("/single/{job_id}/messages", responses={200: {"model": schemas.MessagesPage}, **ID_ERRORS},
                params=(JOB_ID, param("since", "only messages after this time (a previous next)", TIME),
                                    _MESSAGES_LIMIT.spec),
                summary="A job's messages of all kinds merged, oldest first, in pages")
    async def messages(request: Request) -> Response:
        await authenticate(request)
        job_id = parse_job_id(request.path_params["job_id"])
        limit = _MESSAGES_LIMIT.read(request) or 1000
        since = request.query_params.get("since")
        job = await deck.call(store.require_job, job_id)
        return json_response(message_page(job.all_messages(), since, limit))

    return routes
