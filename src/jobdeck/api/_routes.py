"""The JSON API under the prefix (``/api/admin/jobs`` by default); the README's "HTTP API" section lists every endpoint.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`, built per app by :func:`build_api_router`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from ..core.errors import JobConflictError, JobNotFoundError, UnknownJobTypeError
from ..core.model import ACTIVE, TERMINAL, JobInfo, JobStatus
from ..runtime.runner import JobRunner
from ..runtime.tracing import extract_context, run_in_context
from ..stores.base import Store
from . import _schemas as schemas
from ._deck import Deck
from ._errors import ApiError, error_response
from ._past import (
    CURSOR_OVERLAP,
    MAX_SUMMARY_RUNS,
    NEXT_HEADER,
    SUMMARY_RUNS,
    PastParams,
    parse_cursor,
    past_answer,
    summary_answer,
)
from ._roles import Permissions, Principal
from ._schemas import NO_NUL
from ._serialize import (
    answer_response,
    json_response,
    message_page,
    parse_job_id,
    parse_messages,
    parse_time_param,
    refuse_nul,
)
from ._sse import EventStreamResponse

__all__ = [
    "ABORT_ALL_REASON",
    "CURSOR",
    "CURSOR_OVERLAP",
    "RETRY_AFTER_ABORTING",
    "START_FROM_OVERLAP",
    "WRITE_ERRORS",
    "build_api_router",
    "started_answer",
]

# A client-supplied startFrom is moved this far back. The reference client sets its cursor from its own clock
# after the answers arrived, so a job that ended between the server's query and that moment would be in
# neither list; the overlap returns it again (clients upsert by id, as the reference client does).
START_FROM_OVERLAP = 5.0
# /abort-all without a reason: the reference system's wording.
ABORT_ALL_REASON = "Admin-initiated emergency cleanup"
# Seconds a client is told to wait before starting a type again whose previous job is still stopping.
RETRY_AFTER_ABORTING = 2
MAX_LIMIT = 100_000

M = TypeVar("M", bound=BaseModel)


def _error(description: str) -> dict[str, Any]:
    return {"model": schemas.ErrorBody, "description": description}


# Every endpoint may answer these: a refused request, the token throttle, the store or task engine out of reach.
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("malformed request: the message names the field"),
    401: _error("no credentials"),
    403: _error("wrong credentials, a cross-site request, or (writes) a role that may not do this: the body's "
                "requiredRole names the role needed"),
    429: _error("too many wrong tokens from this address: Retry-After says when credentials are checked again"),
    503: _error("the store (or the task engine) cannot be reached or did not answer in time; retry later"),
}
_ID_ERRORS: dict[int | str, dict[str, Any]] = {**_AUTH_ERRORS, 404: _error("no such job (never created or evicted)")}
# Every write may also answer these (the request guard).
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    413: _error("the request body is larger than the server takes"),
    415: _error("the request body is not JSON in UTF-8"),
}


async def _read_body(request: Request, model: type[M], required: bool) -> M:
    """Validate a JSON body; 400 naming the problem (malformed JSON, wrong type, unknown field)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        raw = b"{}"
    return model.model_validate_json(raw)  # a ValidationError becomes a 400 (see errors.py)


def query_list(request: Request, name: str) -> list[str]:
    """Every value of a list parameter, repeated (``statuses=a&statuses=b``) or in the indexed form that
    JavaScript query-string libraries write (``statuses[0]=a&statuses[1]=b``, also ``statuses[]=a``)."""
    query = request.query_params
    values = query.getlist(name)
    indexed: list[tuple[int, int, str]] = []
    head = name + "["
    for order, (key, value) in enumerate(query.multi_items()):
        if key.startswith(head) and key.endswith("]"):
            inner = key[len(head):-1]
            if inner and not inner.isdigit():
                raise ApiError(400, f"{key!r}: a list parameter takes {name}=..., {name}[]=... or {name}[N]=...")
            indexed.append((int(inner) if inner else order, order, value))
    indexed.sort()
    return values + [value for _, _, value in indexed]


def _job_types(request: Request) -> tuple[str | None, frozenset[str] | None]:
    """The store's one-type filter, and the set to filter by afterwards when several types are asked for."""
    names = [n for n in query_list(request, "jobType") if refuse_nul("jobType", n)]
    if not names:
        return None, None
    if len(set(names)) == 1:
        return names[0], None
    return None, frozenset(names)


def _keep_types(jobs: list[JobInfo], wanted: frozenset[str] | None) -> list[JobInfo]:
    return jobs if wanted is None else [job for job in jobs if job.job_type in wanted]


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


def _request_abort(deck: Deck, job_id: str, reason: str | None, by: str | None) -> bool:
    # Through the runner when there is one: a queued job is also cancelled in its task engine.
    if deck.runner is not None:
        return deck.runner.abort(job_id, reason, by=by)
    return deck.store.request_abort(job_id, reason, by=by)


def _abort_all(deck: Deck, reason: str | None, principal: Principal, permissions: Permissions,
               ) -> tuple[list[str], list[str]]:
    active = [job for job in deck.store.get_active_jobs(messages=False) if job.status in ACTIVE]
    targets = [job.id for job in active if permissions.may_abort(principal, job)]
    requested = []
    for job_id in targets:
        try:
            if _request_abort(deck, job_id, reason, principal.name):
                requested.append(job_id)
        except JobNotFoundError:  # finished and evicted in between
            continue
    return targets, requested


def _abort_one(deck: Deck, job_id: str, reason: str | None, by: str) -> tuple[bool, JobStatus]:
    """Request the abort; whether this request (or an earlier one) holds, and the job's status after it."""
    requested = _request_abort(deck, job_id, reason, by)
    return requested, deck.store.require_job(job_id, messages=False).status


def _stopping(store: Store, job_type: str) -> list[str]:
    """Ids of the type's active jobs if every one of them is aborting (so the conflict ends on its own)."""
    jobs = store.get_active_jobs(job_type, messages=False)
    return [job.id for job in jobs] if jobs and all(j.status is JobStatus.ABORTING for j in jobs) else []


def _types(runner: JobRunner | None, store: Store) -> list[dict[str, Any]]:
    active: dict[str, list[str]] = {}
    for job in store.get_active_jobs(messages=False):
        active.setdefault(job.job_type, []).append(job.id)
    if runner is None:
        return []
    return [{
        "jobType": t.name,
        "external": t.external,
        "title": t.title,
        "description": t.description,
        "maxConcurrent": t.max_concurrent,
        "timeout": t.timeout,
        "params": dict(t.params),
        "paramsSchema": t.schema,
        "activeJobIds": active.get(t.name, []),
    } for t in runner.types]


def _stats(store: Store) -> dict[str, Any]:
    counts: dict[str, Any] = dict(store.stats())
    counts["active"] = sum(counts.get(status.value, 0) for status in ACTIVE)
    counts["staleAfter"] = store.stale_after
    return counts


_UUID = {"type": "string", "format": "uuid"}


def _param(name: str, description: str, schema: dict[str, Any] | None = None, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    """An OpenAPI parameter; a ``job_id`` is a UUID (the routes answer 400 for anything else)."""
    if schema is None:
        schema = _UUID if name == "job_id" else {"type": "string"}
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}


_TEXT = {"type": "string", "pattern": NO_NUL}
# A past-jobs cursor as the API hands it out: the end time (a float's repr) and the job id; 80 characters at most.
CURSOR = {"type": "string", "pattern": "^-?[0-9]{1,17}(\\.[0-9]{1,17})?(e[-+]?[0-9]{1,2})?_[0-9a-f]{8}-[0-9a-f]{4}-"
                                       "[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
_TIME = {"type": "string", "format": "date-time"}
_PAST_STATUS = "\\s*(completed|failed|aborted)\\s*"
_JOB_TYPE = _param("jobType", "only jobs of this type", _TEXT)
_MESSAGES = _param("messages", "all (default: the reference shape), none, or last:N (or N) messages of each kind",
                   {"type": "string", "pattern": "^(all|none|(last:)?[0-9]{1,8})$"})
_JOB_ID = _param("job_id", "the job's id (a UUID)", where="path")
_LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}


def _docs(*params: dict[str, Any], body: type[BaseModel] | None = None, body_required: bool = False,
          ) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": list(params)}
    if body is not None:
        extra["requestBody"] = {"required": body_required, "content": {"application/json": {
            "schema": schemas.body_schema(body)}}}
    return extra


def started_answer(deck: Deck, runner: JobRunner, job: JobInfo) -> dict[str, Any]:
    """The 201 answer of a start or a re-run: the job, and for an external type its ``reportToken``."""
    answer = job.to_dict()
    if runner.get_type(job.job_type).external:
        # Whoever runs it elsewhere reports with this: that job's report endpoints only, until it ends.
        answer["reportToken"] = deck.reports.issue(job.id)
    return answer


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def build_api_router(deck: Deck) -> APIRouter:
    """Every JSON endpoint, bound to ``deck``.

    Handlers take the bare request and read their query values themselves: FastAPI's per-parameter
    validation costs more than serving a cached job list does. The parameters are documented in the OpenAPI
    schema all the same (``openapi_extra``).
    """
    router = APIRouter(prefix=deck.prefix, tags=["jobs"])
    store = deck.store
    authenticate = deck.auth.authenticate
    identify = deck.auth.identify
    permissions = deck.permissions

    @router.get("/active", responses={200: {"model": schemas.JobList}, **_AUTH_ERRORS},
                openapi_extra=_docs(_JOB_TYPE, _MESSAGES), summary="Queued, running and aborting jobs, oldest first")
    async def active(request: Request) -> Response:
        await authenticate(request)
        query = request.query_params
        view = parse_messages(query.get("messages"))
        job_type, several = _job_types(request)

        async def build() -> tuple[bytes, dict[str, str] | None]:
            jobs = await deck.call(store.get_active_jobs, job_type, messages=view.messages)
            return deck.cache.render_list(_keep_types(jobs, several), view.keep), None

        return answer_response(await deck.answer(("active", several or job_type, view.keep), build))

    @router.get("/past", responses={200: {"model": schemas.JobList, "headers": {
        "X-Jobdeck-Cursor": {"description": "pass as startFrom next time (overlaps a little: upsert by id)",
                             "schema": {"type": "string"}},
        NEXT_HEADER: {"description": "with limit, when the page is full: pass as before for the next page",
                      "schema": {"type": "string"}}}}, **_AUTH_ERRORS},
        summary="Finished jobs, most recently ended first (ties by id); streamed when there is no limit",
        openapi_extra=_docs(_JOB_TYPE, _param("statuses", "completed, failed or aborted (repeatable, or "
                                                          "comma-separated)", {
            "type": "array", "items": {"type": "string", "pattern": f"^{_PAST_STATUS}(,{_PAST_STATUS})*$"}}),
            _param("startFrom", f"only jobs that ended after this time (ISO 8601), minus {START_FROM_OVERLAP:g} s of "
                                "overlap (upsert by id)", _TIME), _MESSAGES,
            _param("limit", "at most this many jobs (one page)", _LIMIT_SCHEMA),
            _param("before", f"only jobs after this cursor (the {NEXT_HEADER} header of the previous page)",
                   CURSOR)))
    async def past(request: Request) -> Response:
        await authenticate(request)
        query = request.query_params
        view = parse_messages(query.get("messages"))
        wanted = _past_statuses(query_list(request, "statuses"))
        since = parse_time_param("startFrom", query.get("startFrom"))
        if since is not None:
            since -= START_FROM_OVERLAP
        limit = _int_param(request, "limit", None, 1, MAX_LIMIT)
        job_type, several = _job_types(request)
        before = parse_cursor(query.get("before"))
        types = several if several is not None else job_type
        return await past_answer(deck, PastParams(types, wanted, since, before, limit, view))

    @router.get("/past/summary", responses={200: {"model": list[schemas.PastSummary]}, **_AUTH_ERRORS},
                summary="Per job type: past jobs per status and the newest runs (no messages)",
                openapi_extra=_docs(_param("runs", f"newest past jobs per type (default {SUMMARY_RUNS})",
                                           {"type": "integer", "minimum": 0, "maximum": MAX_SUMMARY_RUNS})))
    async def past_summary(request: Request) -> Response:
        await authenticate(request)
        runs = _int_param(request, "runs", SUMMARY_RUNS, 0, MAX_SUMMARY_RUNS)
        return await summary_answer(deck, SUMMARY_RUNS if runs is None else runs)

    @router.post("/start", status_code=201, openapi_extra=_docs(body=schemas.StartRequest, body_required=True),
                 responses={201: {"model": schemas.StartedJob}, **_AUTH_ERRORS, **WRITE_ERRORS,
                            404: _error("unknown job type"),
                            409: _error("the type's max_concurrent is reached (with Retry-After when the previous "
                                        "job is stopping)")},
                 summary="Start a job of a registered type")
    async def start(request: Request) -> Response:
        principal = await identify(request)
        body = await _read_body(request, schemas.StartRequest, True)
        permissions.require_start(principal, body.job_type)
        runner = deck.runner
        if runner is None:
            raise UnknownJobTypeError(body.job_type, [])
        try:
            # The request's trace context (traceparent) becomes the parent of the job's span (jobdeck[otel]).
            job = await deck.call(run_in_context, extract_context(request.headers), runner.start, body.job_type,
                                  body.author or principal.name, body.params)
        except JobConflictError as exc:
            stopping = await deck.call(_stopping, store, body.job_type)
            if not stopping:
                raise
            return error_response(
                409, f"job type {body.job_type!r}: the previous job ({', '.join(stopping)}) is stopping after an "
                     f"abort request; retry in a few seconds", {"Retry-After": str(RETRY_AFTER_ABORTING)},
                activeJobIds=exc.active_ids)
        finally:
            deck.wrote()
        return json_response(started_answer(deck, runner, job), 201)

    @router.get("/single/{job_id}/progress", responses={200: {"model": schemas.Job}, **_ID_ERRORS},
                openapi_extra=_docs(_JOB_ID, _MESSAGES), summary="One job")
    async def progress(request: Request) -> Response:
        await authenticate(request)
        job_id = parse_job_id(request.path_params["job_id"])
        view = parse_messages(request.query_params.get("messages"))

        async def build() -> tuple[bytes, dict[str, str] | None]:
            # The one view that carries the operation tree: it is bounded (a few kilobytes) but costs a second
            # read, which the lists (/active, /past, /search) and the events must not pay per job.
            job = await deck.call(store.require_job, job_id, messages=view.messages,  # 404s are not cached
                                  operations=True)
            return deck.cache.render(job, view.keep), None

        return answer_response(await deck.answer(("progress", job_id, view.keep), build))

    @router.get("/single/{job_id}/messages", responses={200: {"model": schemas.MessagesPage}, **_ID_ERRORS},
                openapi_extra=_docs(_JOB_ID, _param("since", "only messages after this time (a previous next)", _TIME),
                                    _param("limit", "page size (default 1000)", _LIMIT_SCHEMA)),
                summary="A job's messages of all kinds merged, oldest first, in pages")
    async def messages(request: Request) -> Response:
        await authenticate(request)
        job_id = parse_job_id(request.path_params["job_id"])
        limit = _int_param(request, "limit", 1000, 1, MAX_LIMIT) or 1000
        since = request.query_params.get("since")
        job = await deck.call(store.require_job, job_id)
        return json_response(message_page(job.all_messages(), since, limit))

    @router.post("/single/{job_id}/abort", status_code=202,
                 openapi_extra=_docs(_JOB_ID, body=schemas.AbortRequest),
                 responses={202: {"model": schemas.AbortAccepted}, **_ID_ERRORS, **WRITE_ERRORS},
                 summary="Ask a running job to stop; a queued one ends aborted at once (idempotent: a job that "
                         "already ended answers its status)")
    async def abort(request: Request) -> Response:
        principal = await identify(request)
        job_id = parse_job_id(request.path_params["job_id"])
        body = await _read_body(request, schemas.AbortRequest, False)
        if permissions.custom_abort:
            permissions.require_abort(principal, await deck.call(store.require_job, job_id, messages=False))
        else:  # the default hook needs no job: refuse without reading it
            permissions.require_admin(principal, f"aborting job {job_id}")
        try:
            requested, status = await deck.call(_abort_one, deck, job_id, body.reason, principal.name)
        finally:
            deck.wrote()
        # A view a few seconds old may ask to abort a job that has just ended: that is not a failure, the job
        # has stopped either way, so the answer is the same 202 with the status it ended with.
        message = (f"Abort requested for job {job_id}" if requested
                   else f"Job {job_id} already ended with status {status.value!r}; nothing to abort")
        return json_response({"message": message, "jobId": job_id, "status": status.value}, 202)

    @router.post("/abort-all", status_code=202, openapi_extra=_docs(body=schemas.AbortRequest),
                 responses={202: {"model": schemas.AbortAllAccepted}, **_AUTH_ERRORS, **WRITE_ERRORS},
                 summary="Ask every active job to stop (emergency clean-up)")
    async def abort_all(request: Request) -> Response:
        principal = await identify(request)
        permissions.require_admin(principal, "aborting every running job")
        body = await _read_body(request, schemas.AbortRequest, False)
        try:
            targets, requested = await deck.call(_abort_all, deck, body.reason or ABORT_ALL_REASON, principal,
                                                 permissions)
        finally:
            deck.wrote()
        # The reference's shape (two numbers); the ids ride along in fields of their own.
        return json_response({"message": f"Abort requested for {len(requested)} of {len(targets)} active job(s)",
                              "targetedJobs": len(targets), "abortRequestedFor": len(requested),
                              "targetedJobIds": targets, "abortRequestedJobIds": requested}, 202)

    @router.get("/types", responses={200: {"model": list[schemas.JobTypeInfo]}, **_AUTH_ERRORS},
                summary="Registered job types, their parameters and active jobs")
    async def types(request: Request) -> Response:
        await authenticate(request)
        return json_response(await deck.call(_types, deck.runner, store))

    @router.get("/me", responses={200: {"model": schemas.Me}, **_AUTH_ERRORS},
                summary="Who is signed in, their role, and what the dashboard should offer them")
    async def me(request: Request) -> Response:
        principal = await identify(request)
        types = deck.runner.types if deck.runner is not None else []
        return json_response({
            "name": principal.name,
            "role": principal.role,
            "canStart": [t.name for t in types if permissions.may_start(principal, t.name)],
            "canAbort": principal.is_admin or permissions.custom_abort,
        })

    @router.get("/stats", responses={200: {"model": schemas.Stats}, **_AUTH_ERRORS}, summary="Jobs per status")
    async def stats(request: Request) -> Response:
        await authenticate(request)
        return json_response(await deck.call(_stats, store))

    @router.get("/events", response_class=Response, summary="Live changes as Server-Sent Events",
                openapi_extra=_docs(_param("lastEventId", "resume after this event id (or the Last-Event-ID "
                                                          "header)")),
                responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"},
                           **_AUTH_ERRORS})
    async def events(request: Request) -> Response:
        await authenticate(request)
        resume = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
        client, first = await deck.mux.subscribe(resume)
        return EventStreamResponse(deck.mux, client, first)

    return router
