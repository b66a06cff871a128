"""One action for many jobs: ``POST /bulk`` (abort, re-run, resume or delete the jobs given by id or by filter).

The request is planned at once (:func:`~jobdeck.runtime.bulk.plan_bulk`): the matching jobs are read, each checked
against the action's rule and the asker's permission hooks (``can_abort`` for an abort, ``can_start`` of the job's
type for a re-run or resume, the admin role for a delete). A dry run answers the plan's count and first ids; a real
one answers 202 with the id of the bulk job that carries it out (:func:`~jobdeck.runtime.bulk.start_bulk`), so that
the count the asker saw is the count the job acts on. Routes are closures over one
:class:`~jobdeck.api._deck.Deck`, like the others of :mod:`jobdeck.api._routes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import JobNotFoundError
from ..core.model import JobInfo, PastCursor
from ..runtime.bulk import MAX_TARGETS, Action, BulkPlan, plan_bulk, start_bulk
from ..stores.base import Store
from ._deck import Deck
from ._errors import ApiError
from ._finding import Q_PATTERN
from ._openapi import AUTH_ERRORS, WRITE_ERRORS, Routes, error
from ._query import read_body
from ._roles import Permissions, Principal
from ._schemas import NO_NUL
from ._serialize import json_response, parse_job_id

__all__ = ["BulkFilter", "BulkRequest", "build_bulk_routes", "find_targets"]

SAMPLE = 20
_TEXT: dict[str, Any] = {"pattern": NO_NUL}  # what no job holds is refused by the store (400) and the schema
_UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_PAGE = 500


class BulkFilter(BaseModel):
    """The jobs to act on, as ``/search`` finds them (and, for a failure group, by signature)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    q: str | None = Field(None, max_length=1000, description="words, as /search's q",
                          json_schema_extra={"pattern": Q_PATTERN})
    jobType: str | None = Field(None, max_length=1000, description="only jobs of this type", json_schema_extra=_TEXT)
    status: list[Literal["queued", "running", "aborting", "completed", "failed", "aborted"]] | None = Field(
        None, max_length=6, description="only jobs with these statuses")
    signature: str | None = Field(None, max_length=1000, description="only failed jobs with this signature "
                                                                     "(a group of GET /failures)",
                                  json_schema_extra=_TEXT)


class BulkRequest(BaseModel):
    """``{"action": "rerun", "filter": {"status": ["failed"], "jobType": "Import"}, "dryRun": true}``: exactly
    one of ``ids`` and ``filter``."""

    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"oneOf": [{"required": ["ids"]}, {"required": ["filter"]}]})

    action: Literal["abort", "rerun", "resume", "delete"]
    # Absent rather than null (the schema says so): SkipJsonSchema keeps None out of the document.
    ids: Annotated[list[Annotated[str, Field(pattern=_UUID)]], Field(max_length=1000)] | SkipJsonSchema[None] = Field(
        None, description="the jobs to act on, at most 1000 (or give filter)")
    filter: BulkFilter | SkipJsonSchema[None] = Field(None, description="the jobs to act on (or give ids)")
    dryRun: bool = Field(False, description="answer the count and the first ids; act on nothing")


class BulkPlanAnswer(BaseModel):
    count: int = Field(description="jobs the action will act on")
    ids: list[str] = Field(description=f"the first {SAMPLE} of them")
    leftOut: int = Field(description="matching jobs it will not act on (leftOutSample says why)")
    leftOutSample: list[dict[str, str]] = Field(description=f"the first {SAMPLE} left out: {{id, why}}")


class BulkStarted(BaseModel):
    jobId: str = Field(description="the bulk job (type jobdeck.bulk) that carries the action out")
    count: int = Field(description="jobs it acts on")
    leftOut: int = Field(description="matching jobs it does not act on (its messages say why)")


def find_targets(store: Store, body: BulkRequest) -> tuple[list[JobInfo], list[tuple[str, str]]]:
    """The jobs the request names (heads), and the ids it names that no job has."""
    if body.ids is not None:
        found, missing = [], []
        for job_id in dict.fromkeys(parse_job_id(i) for i in body.ids):
            try:
                found.append(store.require_job(job_id, messages=False))
            except JobNotFoundError:
                missing.append((job_id, "not found"))
        return found, missing
    wanted = body.filter or BulkFilter.model_validate({})
    jobs: list[JobInfo] = []
    before: PastCursor | None = None
    while True:
        page = store.search_jobs(wanted.q, job_type=wanted.jobType or None, statuses=wanted.status,
                                 limit=_PAGE, before=before, signature=wanted.signature)
        jobs += page
        if len(jobs) > MAX_TARGETS:
            raise ApiError(400, f"the filter matches more than {MAX_TARGETS} jobs; narrow it (a job type, a status, "
                                "words) or act in several steps")
        past = [j for j in page if j.end_time is not None]
        if len(past) < _PAGE:
            return jobs, []
        before = PastCursor.of(past[-1])


def _permission(action: Action, principal: Principal, permissions: Permissions) -> Callable[[JobInfo], str | None]:
    def allowed(job: JobInfo) -> str | None:
        if action == "abort":
            ok = permissions.may_abort(principal, job)
        elif action == "delete":
            ok = principal.is_admin
        else:
            ok = permissions.may_start(principal, job.job_type)
        return None if ok else f"not allowed for {principal.name} (role {principal.role})"

    return allowed


def _plan(store: Store, body: BulkRequest, principal: Principal, permissions: Permissions) -> BulkPlan:
    jobs, missing = find_targets(store, body)
    plan = plan_bulk(body.action, jobs, _permission(body.action, principal, permissions))
    plan.left_out += missing
    return plan


def _record(body: BulkRequest) -> dict[str, Any]:
    if body.ids is not None:
        return {"ids": len(body.ids)}
    return {"filter": (body.filter or BulkFilter.model_validate({})).model_dump(exclude_none=True)}


def build_bulk_routes(deck: Deck) -> Routes:
    """``/bulk``, bound to ``deck``."""
    routes = Routes()
    store = deck.store

    @routes.post("/bulk", body=BulkRequest, body_required=True,
                 responses={202: {"model": BulkStarted}, 200: {"model": BulkPlanAnswer,
                                                              "description": "the plan of a dry run"},
                            **AUTH_ERRORS, **WRITE_ERRORS,
                            400: error("malformed body, ids and filter both or neither, a filter matching too many "
                                       "jobs")},
                 summary="Abort, re-run, resume or delete many jobs (by ids or filter) as one bulk job")
    async def bulk(request: Request) -> Response:
        principal = await deck.auth.identify(request)
        body = await read_body(request, BulkRequest, True)
        given = {name for name in ("ids", "filter") if name in body.model_fields_set}
        if len(given) != 1 or (body.ids is None and body.filter is None):
            raise ApiError(400, "give either ids or filter (exactly one of them, and not null)")
        permissions = deck.permissions
        hooked = (body.action == "abort" and permissions.custom_abort) or (
            body.action in ("rerun", "resume") and permissions.custom_start)
        if not hooked:
            permissions.require_admin(principal, f"a bulk {body.action}")
        if body.action in ("rerun", "resume") and deck.runner is None:
            raise ApiError(400, f"this server runs no jobs: a bulk {body.action} needs a runner")
        plan = await deck.call(_plan, store, body, principal, permissions)
        if body.dryRun:
            return json_response({"count": len(plan.targets), "ids": plan.targets[:SAMPLE],
                                  "leftOut": len(plan.left_out),
                                  "leftOutSample": [{"id": i, "why": w} for i, w in plan.left_out[:SAMPLE]]})
        try:
            job = await deck.call(start_bulk, store, deck.runner, plan, principal.name, _record(body))
        finally:
            deck.wrote()
        return json_response({"jobId": job.id, "count": len(plan.targets), "leftOut": len(plan.left_out)}, 202)

    return routes
