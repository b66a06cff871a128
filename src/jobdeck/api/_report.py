"""Progress reported over HTTP by a job that runs elsewhere (an external job type, any process or language).

    POST {prefix}/single/{id}/report    {"progress"?, "currentOperation"?, "operations"?, "messages"?: [...]}
    POST {prefix}/single/{id}/complete  {"result"?}
    POST {prefix}/single/{id}/fail      {"message"?}
    POST {prefix}/single/{id}/aborted   {}

Each takes the admin credentials or the job's report token (:mod:`jobdeck.api._report_token`) and answers
``{"status", "abortRequested", "abortReason"}``, so a remote worker learns of an abort in the round trip of its
next report; an empty report is a heartbeat. The store's rules hold: progress is clamped, message caps apply,
terminal states are final (a report on a job that has ended answers 409 with its ``status``). A job asked to
abort that still reports after the runner's abort grace is failed, as a local handler would be; a reporter
that falls silent is failed by the stale-job reaper, with a reason that says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import JobFinishedError, UnknownJobTypeError
from ..core.jobtype import JobType
from ..core.model import JobInfo, JobStatus, OperationRef
from ..core.operations import OperationTree
from ..core.pipeline import MAX_SNAPSHOT_DEPTH, MAX_SNAPSHOT_NODES
from ..core.usage import Prices, Usage
from ..runtime.spend import check_reported
from ..stores.base import Store
from . import _schemas as schemas
from ._auth import Authenticator
from ._deck import Deck
from ._errors import ApiError
from ._openapi import WRITE_ERRORS, Routes, param
from ._report_token import REPORT_TOKEN_PREFIX
from ._serialize import json_response, parse_job_id

__all__ = ["DEFAULT_ABORT_GRACE", "build_report_routes"]

DEFAULT_ABORT_GRACE = 30.0
# What a reported tree may hold: a controller's bounded snapshot (its operations, plus a "more" entry before and
# after each window and one for each operation whose parts lie below the depth shown) and no more.
_MAX_TREE_ENTRIES = 3 * MAX_SNAPSHOT_NODES
_MAX_TREE_LEVELS = MAX_SNAPSHOT_DEPTH + 1


def _answer(job: JobInfo) -> dict[str, Any]:
    return {"status": job.status.value, "abortRequested": job.status in (JobStatus.ABORTING, JobStatus.ABORTED),
            "abortReason": job.abort_reason}


def _report(store: Store, job_id: str, body: schemas.ReportRequest, grace: float,
            prices: Prices | None = None, *, types: Callable[[str], JobType | None] | None = None
            ) -> dict[str, Any]:
    tree = None
    usage = before = None
    if body.operations is not None:  # checked first: a refused report stores nothing
        tree = OperationTree.from_list(body.operations).check_bounds(_MAX_TREE_ENTRIES, _MAX_TREE_LEVELS)
    if body.usage is not None:  # the totals ride with the tree, as a controller's do (core/usage.py)
        usage = Usage.from_dict(body.usage, prices)
        held = store.require_job(job_id, messages=False, operations=tree is None)
        before = held.usage  # what the budget check compares with (runtime/spend.py: check_reported)
        if tree is None:
            now = held.operations
            tree = OperationTree(now.nodes if now is not None else (), usage)
        else:
            tree = OperationTree(tree.nodes, usage)
    wrote = False
    for item in body.messages or ():
        wrote = store.add_message(job_id, item.type, item.message) or wrote
    if body.progress is not None or body.currentOperation is not None or tree is not None:
        op = body.currentOperation
        ref = OperationRef(op.id, op.index, op.total) if op is not None else None
        value = body.progress if body.progress is not None else store.require_job(job_id, messages=False).progress
        wrote = store.update_progress(job_id, value, ref, tree) or wrote
    if not body.messages and body.progress is None and body.currentOperation is None and tree is None:
        wrote = store.heartbeat(job_id)
    # Reading the job flushes what the store buffered: once this answers, the report is stored.
    job = store.require_job(job_id, messages=False)
    if not wrote and job.status.is_terminal:
        raise JobFinishedError(job.id, job.status.value)
    job_type = types(job.job_type) if usage is not None and types is not None else None
    if usage is not None and job_type is not None and check_reported(store, job, job_type, before, usage):
        job = store.require_job(job_id, messages=False)  # the reporter learns of the budget stop in this answer
    if job.status is JobStatus.ABORTING and job.abort_time is not None and time.time() - job.abort_time > grace:
        store.fail_job(job_id, f"Job did not stop within {grace:g}s of the abort request; its external reporter "
                               "was still reporting, so it was marked failed")
        job = store.require_job(job_id, messages=False)
    return _answer(job)


def _end(store: Store, job_id: str, how: str, body: Any) -> dict[str, Any]:
    if how == "complete":
        done = store.complete_job(job_id, body.result)
    elif how == "fail":
        done = store.fail_job(job_id, body.message)
    else:
        done = store.mark_aborted(job_id)
    job = store.require_job(job_id, messages=False)
    if not done:
        raise JobFinishedError(job.id, job.status.value)
    return _answer(job)


_JOB_ID = param("job_id", "the job's id", where="path")

_ERRORS: dict[int | str, dict[str, Any]] = {
    **{code: {"model": schemas.ErrorBody, "description": text} for code, text in (
        (400, "malformed report: the message names the field"), (401, "no credentials"),
        (403, "wrong credentials, or the report token of another job"), (404, "no such job"),
        (409, "the job already ended; the body's status says how"),
        (429, "too many wrong admin tokens from this address (report tokens are not throttled)"),
        (503, "the store cannot be reached or did not answer in time; retry later"))},
    **WRITE_ERRORS}


def build_report_routes(deck: Deck) -> Routes:
    """The report endpoints of external jobs, bound to ``deck``."""
    routes = Routes("reporting")
    store = deck.store

    async def allow(request: Request, job_id: str) -> None:
        # Self-contained on purpose: the report token is honoured here and nowhere else.
        supplied = Authenticator.supplied_token(request)
        if supplied is not None and supplied.startswith(REPORT_TOKEN_PREFIX):
            if not deck.reports.valid(job_id, supplied):
                raise ApiError(403, "this report token is not valid for this job")
            return
        # Otherwise an admin (a viewer reads, it does not report).
        deck.permissions.require_admin(await deck.auth.identify(request), f"reporting on job {job_id}")

    async def body_of(request: Request, model: type[BaseModel]) -> Any:
        raw = await request.body()
        return model.model_validate_json(raw if raw.strip() else b"{}")

    def registered(job_type: str) -> JobType | None:  # the type whose budget a reported use is checked against
        try:
            return deck.runner.get_type(job_type) if deck.runner is not None else None
        except UnknownJobTypeError:
            return None

    def grace() -> float:
        return deck.runner.abort_grace if deck.runner is not None else DEFAULT_ABORT_GRACE

    @routes.post("/single/{job_id}/report", responses={200: {"model": schemas.ReportAnswer}, **_ERRORS},
                 params=(_JOB_ID,), body=schemas.ReportRequest,
                 summary="Report progress, the current operation and messages of an external job (or heartbeat)")
    async def report(request: Request) -> Response:
        job_id = parse_job_id(request.path_params["job_id"])
        await allow(request, job_id)
        body = await body_of(request, schemas.ReportRequest)
        try:
            prices = deck.runner.prices if deck.runner is not None else None
            return json_response(await deck.call(_report, store, job_id, body, grace(), prices,
                                                 types=registered))
        finally:
            deck.wrote()

    def ending(how: str, model: type[BaseModel], summary: str) -> None:
        async def end(request: Request) -> Response:
            job_id = parse_job_id(request.path_params["job_id"])
            await allow(request, job_id)
            body = await body_of(request, model)
            try:
                return json_response(await deck.call(_end, store, job_id, how, body))
            except ValueError as exc:  # a result that is not JSON
                raise ApiError(400, str(exc)) from None
            finally:
                deck.wrote()

        end.__name__ = how
        routes.add("POST", f"/single/{{job_id}}/{how}", end, summary=summary,
                   responses={200: {"model": schemas.ReportAnswer}, **_ERRORS}, params=(_JOB_ID,), body=model)

    ending("complete", schemas.CompleteRequest, "An external job completed (with an optional result)")
    ending("fail", schemas.FailRequest, "An external job failed (with an optional error message)")
    ending("aborted", schemas.EmptyRequest, "An external job stopped after an abort request")
    return routes
