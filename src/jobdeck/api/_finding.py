"""Finding jobs and running them again: search, id-prefix lookup, re-run, resume, and a job's messages as JSON
Lines.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`, like the others of :mod:`jobdeck.api._routes`.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import AmbiguousJobIdError, JobConflictError, UnknownJobTypeError
from ..core.model import JobInfo, JobStatus, PastCursor
from ..runtime.recovery import RESUMABLE
from ..stores import MAX_SEARCH_WORD_CHARS as MAX_WORD
from ..stores import MAX_SEARCH_WORDS as MAX_WORDS
from ..stores.base import Store
from . import _schemas as schemas
from ._control import CONFLICT, conflict_answer, started_answer
from ._deck import Deck
from ._diagnosis import Diagnoser
from ._errors import ApiError, error_response
from ._export import csv_response
from ._locale import request_locale
from ._openapi import AUTH_ERRORS, CURSOR, ID_ERRORS, WRITE_ERRORS, Routes, error, param
from ._query import IntParam, parse_cursor, read_body
from ._schemas import NO_NUL
from ._serialize import json_response, parse_job_id, refuse_nul

__all__ = ["NOTHING_CARRIED", "Q_PATTERN", "build_finding_routes"]

MAX_PAGE = 200
MAX_QUERY = 1000  # characters of a search text
# Python's str.split() (which counts the words) also splits at \x1c-\x1f and \x85, which a JSON Schema \s does not
# match: the pattern names them, so that a text it accepts is one the server accepts.
_SPACE = "[\\s\\x1c-\\x1f\\x85]"
_WORD = "[^\\s\\x00\\x1c-\\x1f\\x85]"  # a character of a search word
#: What /search's q (and /bulk's filter.q) accepts: at most MAX_WORDS words of at most MAX_WORD characters.
Q_PATTERN = (f"^{_SPACE}*({_WORD}{{1,{MAX_WORD}}}({_SPACE}+{_WORD}{{1,{MAX_WORD}}}){{0,{MAX_WORDS - 1}}})?"
             f"{_SPACE}*$")
_STATUS = f"\\s*({'|'.join(s.value for s in JobStatus)})?\\s*"
# What a resume answers when the old job left nothing to take over.
NOTHING_CARRIED = "nothing was saved or done: the new job starts from the beginning"
_SEARCH_LIMIT = IntParam("limit", "past jobs per page (default 50)", 1, MAX_PAGE, 50)


def _statuses(values: list[str]) -> list[JobStatus] | None:
    wanted = []
    for item in values:
        for name in item.split(","):
            if not name.strip():
                continue
            try:
                wanted.append(JobStatus(name.strip()))
            except ValueError:
                known = ", ".join(s.value for s in JobStatus)
                raise ApiError(400, f"unknown status {name[:40]!r}; statuses are {known}") from None
    return wanted or None


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= 300 else line[:299] + "…"


def _search_page(store: Store, text: str | None, job_type: str | None, statuses: list[JobStatus] | None, *,
                 limit: int, before: PastCursor | None, schedule_id: str | None = None,
                 signature: str | None = None, diagnoser: Diagnoser | None = None) -> dict[str, Any]:
    jobs = store.search_jobs(text, job_type=job_type, statuses=statuses, limit=limit, before=before,
                             schedule_id=schedule_id, signature=signature)
    past = [job for job in jobs if job.end_time is not None]
    last = past[-1] if len(past) >= limit else None
    out = []
    for job in jobs:
        row = job.to_dict(messages=0)
        row["lastError"] = _last_error(store, job)
        found = diagnoser.of(job) if diagnoser is not None else None  # workers read once, at the first active job
        if found is not None:
            row["diagnosis"] = found.to_dict()
        out.append(row)
    return {"jobs": out, "next": str(PastCursor.of(last)) if last is not None else None}


def _last_error(store: Store, job: JobInfo) -> str | None:
    if job.status is not JobStatus.FAILED:
        return None
    full = store.get_job(job.id)
    if full is None or not full.error_messages:
        return None
    return _first_line(full.error_messages[-1].message)


def _resume_source(store: Store, job_id: str) -> tuple[JobInfo, bool]:
    """The job to resume, and whether it left anything to take over: a saved value, or an operation marked done
    (jobdeck's own ``jobdeck.done:`` values), which is exactly what a resume copies. Read for a job that can be
    resumed only: its values can no longer change then (a finished job saves nothing)."""
    job = store.require_job(job_id, messages=False)
    return job, job.status in RESUMABLE and bool(store.saved_values(job_id))


def _not_resumable(job: JobInfo) -> str:
    if job.status is JobStatus.COMPLETED:
        return (f"job {job.id} completed: there is nothing to resume; re-run it to run it again "
                "(POST /single/{id}/rerun, jobdeck rerun)")
    return (f"job {job.id} is {job.status.value}, still active: only a failed or aborted job can be resumed; wait "
            "for it to end, or abort it first")


def _jsonl(job: JobInfo) -> bytes:
    return b"".join(orjson.dumps(m.to_dict()) + b"\n" for m in job.all_messages())


def build_finding_routes(deck: Deck) -> Routes:
    routes = Routes()
    store = deck.store
    authenticate = deck.auth.authenticate

    @routes.get("/search", responses={200: {"model": schemas.SearchPage, "content": {"text/csv": {}}}, **AUTH_ERRORS},
                summary="Jobs of every type and status matching a text: active first, then past in pages",
                params=(
                    param("q", f"up to {MAX_WORDS} words of up to {MAX_WORD} characters; each must match an id "
                                "prefix, the author, the params or a message", {
                        "type": "string", "maxLength": MAX_QUERY,
                        "pattern": Q_PATTERN}),
                    param("jobType", "only jobs of this type", {"type": "string", "pattern": NO_NUL}),
                    param("scheduleId", "only jobs this schedule started", {"type": "string", "pattern": NO_NUL}),
                    param("signature", "only failed jobs with this signature (a group of GET /failures)",
                          {"type": "string", "pattern": NO_NUL}),
                    param("status", "only jobs with this status (repeatable or comma-separated)", {
                        "type": "array", "items": {"type": "string", "pattern": f"^{_STATUS}(,{_STATUS})*$"}}),
                    _SEARCH_LIMIT.spec,
                    param("before", "the next value of the previous page", CURSOR),
                    param("format", "csv: every matching job as a CSV download (limit and before do not apply)",
                          {"type": "string", "enum": ["json", "csv"]})))
    async def search(request: Request) -> Response:
        await authenticate(request)
        query = request.query_params
        limit = _SEARCH_LIMIT.read(request) or 50
        statuses = _statuses(query.getlist("status"))
        before = parse_cursor(query.get("before"))
        text = refuse_nul("q", query.get("q"))
        if text is not None and len(text) > MAX_QUERY:
            raise ApiError(400, f"q is longer than {MAX_QUERY} characters")
        job_type = refuse_nul("jobType", query.get("jobType")) or None
        schedule_id = refuse_nul("scheduleId", query.get("scheduleId")) or None
        signature = refuse_nul("signature", query.get("signature")) or None
        wanted = query.get("format") or "json"
        if wanted not in ("json", "csv"):
            raise ApiError(400, f"format must be json or csv, got {wanted[:40]!r}")
        try:
            if wanted == "csv":
                return await csv_response(deck, text, job_type, statuses, signature)
            page = await deck.call(_search_page, store, text, job_type, statuses,
                                   limit=limit, before=before, schedule_id=schedule_id, signature=signature,
                                   diagnoser=Diagnoser(store, deck.runner, request_locale(request)))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return json_response(page)

    @routes.get("/lookup", responses={200: {"model": schemas.Lookup}, **ID_ERRORS},
                params=(param("id", "at least 6 leading characters of a job id", {
                    "type": "string", "pattern": "^[0-9a-fA-F-]{6,36}$"}, required=True),),
                summary="The full id of the one job whose id starts with a prefix (400 lists candidates)")
    async def lookup(request: Request) -> Response:
        await authenticate(request)
        prefix = request.query_params.get("id") or ""
        try:
            job_id = await deck.call(store.resolve_id, prefix)
        except AmbiguousJobIdError:
            raise  # 400 with its candidates (errors.py)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return json_response({"id": job_id})

    @routes.post("/single/{job_id}/rerun",
                 params=(param("job_id", "the id of the job to run again", where="path"),),
                 body=schemas.RerunRequest,
                 responses={201: {"model": schemas.StartedJob}, **ID_ERRORS, **WRITE_ERRORS, 409: CONFLICT},
                 summary="Start a new job with the type and params of another (rerunOf names it)")
    async def rerun(request: Request) -> Response:
        principal = await deck.auth.identify(request)
        job_id = parse_job_id(request.path_params["job_id"])
        body = await read_body(request, schemas.RerunRequest, False)
        runner = deck.runner
        if runner is None or not principal.is_admin or deck.permissions.custom_start:
            original = await deck.call(store.require_job, job_id, messages=False)
            deck.permissions.require_start(principal, original.job_type)  # a re-run starts a job
            if runner is None:
                raise UnknownJobTypeError(original.job_type, [])
        try:
            job = await deck.call(runner.rerun, job_id, body.author or principal.name, body.params)
        except JobConflictError as exc:
            return await conflict_answer(deck, exc)
        finally:
            deck.wrote()
        return json_response(started_answer(deck, runner, job), 201)

    @routes.post("/single/{job_id}/resume",
                 params=(param("job_id", "the id of the failed or aborted job to resume", where="path"),),
                 body=schemas.ResumeRequest,
                 responses={201: {"model": schemas.ResumedJob}, **ID_ERRORS, **WRITE_ERRORS,
                            409: error("the job is still active or completed (only a failed or aborted job is "
                                       "resumed: the body's status says which it is), or the type's "
                                       "max_concurrent is reached (as for a start)")},
                 summary="Start a new job with the type and params of a failed or aborted one that takes over its "
                         "saved values and done operations (rerunOf and resumedFrom name it; it stays as it was)")
    async def resume(request: Request) -> Response:
        principal = await deck.auth.identify(request)
        job_id = parse_job_id(request.path_params["job_id"])
        body = await read_body(request, schemas.ResumeRequest, False)
        original, carried = await deck.call(_resume_source, store, job_id)
        deck.permissions.require_start(principal, original.job_type)  # a resume starts a job
        runner = deck.runner
        if runner is None:
            raise UnknownJobTypeError(original.job_type, [])
        if original.status not in RESUMABLE:
            return error_response(409, _not_resumable(original), status=original.status.value)
        try:
            job = await deck.call(runner.resume, job_id, body.author or principal.name)
        except JobConflictError as exc:
            return await conflict_answer(deck, exc)
        finally:
            deck.wrote()
        answer = started_answer(deck, runner, job)
        if not carried:
            answer["note"] = NOTHING_CARRIED
        return json_response(answer, 201)

    @routes.get("/single/{job_id}/messages.jsonl",
                params=(param("job_id", "the job's id", where="path"),),
                responses={200: {"content": {"application/jsonl": {}}, "description": "one message per line"},
                           **ID_ERRORS},
                summary="All of a job's messages, oldest first, one JSON object per line (a download)")
    async def messages_jsonl(request: Request) -> Response:
        await authenticate(request)
        job_id = parse_job_id(request.path_params["job_id"])
        job = await deck.call(store.require_job, job_id)
        return Response(_jsonl(job), media_type="application/jsonl", headers={
            "Content-Disposition": f'attachment; filename="job-{job_id[:8]}-messages.jsonl"'})

    return routes
