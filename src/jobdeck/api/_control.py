"""Controlling jobs: start one, abort one, abort every active job.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`; every write tells the deck (``deck.wrote()``) so
that cached answers are not served past it.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.budget import Budget
from ..core.errors import JobConflictError, JobNotFoundError, UnknownJobTypeError
from ..core.model import ACTIVE, JobInfo, JobStatus, format_time
from ..runtime.runner import JobRunner
from ..runtime.tracing import extract_context, run_in_context
from . import _schemas as schemas
from ._deck import Deck
from ._errors import error_response
from ._openapi import AUTH_ERRORS, ID_ERRORS, JOB_ID, WRITE_ERRORS, Routes, error
from ._query import read_body
from ._roles import Permissions, Principal
from ._serialize import json_response, parse_job_id

__all__ = ["ABORT_ALL_REASON", "CONFLICT", "RETRY_AFTER_ABORTING", "build_control_routes", "conflict_answer",
           "started_answer"]

# /abort-all without a reason: the reference system's wording.
ABORT_ALL_REASON = "Admin-initiated emergency cleanup"
# Seconds a client is told to wait before starting a type again whose previous job is still stopping.
RETRY_AFTER_ABORTING = 2
CONFLICT = error("the type's max_concurrent is reached: the message says when a job holding a slot is waiting to "
                 "retry (and at what time), and comes with Retry-After when the previous job is stopping")


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


async def conflict_answer(deck: Deck, exc: JobConflictError) -> Response:
    """The 409 of a start (or re-run, or resume) refused for its type's ``max_concurrent``, saying what holds
    the slots where that tells the client more than the count does: every holder stopping after an abort (it
    ends on its own: Retry-After), or a holder waiting for its next attempt (it keeps its slot until then)."""
    job_type = exc.job_type
    jobs = await deck.call(deck.store.get_active_jobs, job_type, messages=False)
    if jobs and all(job.status is JobStatus.ABORTING for job in jobs):
        return error_response(
            409, f"job type {job_type!r}: the previous job ({', '.join(job.id for job in jobs)}) is stopping after "
                 f"an abort request; retry in a few seconds", {"Retry-After": str(RETRY_AFTER_ABORTING)},
            activeJobIds=exc.active_ids)
    waiting = sorted((job for job in jobs if job.status is JobStatus.QUEUED and job.retry_at is not None),
                     key=lambda job: (job.retry_at or 0.0, job.id))
    if not waiting:
        return error_response(409, str(exc), activeJobIds=exc.active_ids)
    holders = "; ".join(
        f"job {job.id} is waiting to start at {format_time(job.retry_at)} (runAt)" if job.attempt == 1 and job.run_at
        else f"job {job.id} (attempt {job.attempt} of {job.max_attempts}) is waiting to retry at "
             f"{format_time(job.retry_at)}" for job in waiting)
    return error_response(
        409, f"job type {job_type!r} already has {exc.max_concurrent} active job(s): {holders}; a job waiting to "
             "retry keeps its slot: wait for it to finish or abort it first", activeJobIds=exc.active_ids)



def started_answer(deck: Deck, runner: JobRunner, job: JobInfo) -> dict[str, Any]:
    """The 201 answer of a start or a re-run: the job, and for an external type its ``reportToken``."""
    answer = job.to_dict()
    if runner.get_type(job.job_type).external:
        # Whoever runs it elsewhere reports with this: that job's report endpoints only, until it ends.
        answer["reportToken"] = deck.reports.issue(job.id)
    return answer



def build_control_routes(deck: Deck) -> Routes:
    """The endpoints that start and stop jobs, bound to ``deck``."""
    routes = Routes()
    store = deck.store
    identify = deck.auth.identify
    permissions = deck.permissions

    @routes.post("/start", body=schemas.StartRequest, body_required=True,
                 responses={201: {"model": schemas.StartedJob}, **AUTH_ERRORS, **WRITE_ERRORS,
                            404: error("unknown job type"),
                            409: CONFLICT},
                 summary="Start a job of a registered type")
    async def start(request: Request) -> Response:
        principal = await identify(request)
        body = await read_body(request, schemas.StartRequest, True)
        permissions.require_start(principal, body.job_type)
        runner = deck.runner
        if runner is None:
            raise UnknownJobTypeError(body.job_type, [])
        try:
            # The request's trace context (traceparent) becomes the parent of the job's span (jobdeck[otel]).
            budget = Budget(body.budget.cost, body.budget.tokens) if body.budget is not None else None
            start = functools.partial(runner.start, budget=budget, run_at=body.runAt)
            job = await deck.call(run_in_context, extract_context(request.headers), start, body.job_type,
                                  body.author or principal.name, body.params)
        except JobConflictError as exc:
            return await conflict_answer(deck, exc)
        finally:
            deck.wrote()
        return json_response(started_answer(deck, runner, job), 201)

    @routes.post("/single/{job_id}/abort", params=(JOB_ID,), body=schemas.AbortRequest,
                 responses={202: {"model": schemas.AbortAccepted}, **ID_ERRORS, **WRITE_ERRORS},
                 summary="Ask a running job to stop; a queued one ends aborted at once (idempotent: a job that "
                         "already ended answers its status)")
    async def abort(request: Request) -> Response:
        principal = await identify(request)
        job_id = parse_job_id(request.path_params["job_id"])
        body = await read_body(request, schemas.AbortRequest, False)
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

    @routes.post("/abort-all", body=schemas.AbortRequest,
                 responses={202: {"model": schemas.AbortAllAccepted}, **AUTH_ERRORS, **WRITE_ERRORS},
                 summary="Ask every active job to stop (emergency clean-up)")
    async def abort_all(request: Request) -> Response:
        principal = await identify(request)
        permissions.require_admin(principal, "aborting every running job")
        body = await read_body(request, schemas.AbortRequest, False)
        try:
            targets, requested = await deck.call(_abort_all, deck, body.reason or ABORT_ALL_REASON, principal,
                                                 permissions)
        finally:
            deck.wrote()
        # The reference's shape (two numbers); the ids ride along in fields of their own.
        return json_response({"message": f"Abort requested for {len(requested)} of {len(targets)} active job(s)",
                              "targetedJobs": len(targets), "abortRequestedFor": len(requested),
                              "targetedJobIds": targets, "abortRequestedJobIds": requested}, 202)

    return routes
