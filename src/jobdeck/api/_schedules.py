"""Schedules over HTTP (issue 23): list, create, change (pause, resume, redefine), delete and run now.

Viewers read; changing a schedule is for admins, and creating one or running it now also asks the ``can_start`` hook
for its type (what starting a job of that type needs). Code schedules (``runner.schedule``) can be paused, resumed and
run now, not edited or deleted (409: their definition is the code's). Every change records who made it
(``updatedBy``; a job run now names its starter as its author). The firing itself is the runner's
(:mod:`jobdeck.runtime.scheduling`); a change wakes this process's supervisor, so that a schedule due sooner than it
would look is seen at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import (
    InvalidArgumentError,
    JobConflictError,
    JobNotFoundError,
    ScheduleNotFoundError,
    UnknownJobTypeError,
)
from ..core.model import format_time
from ..core.schedule import DEFAULT_MISFIRE_GRACE, MAX_SECONDS, ScheduleSpec, next_runs
from ..core.schedule_state import Schedule
from ..runtime.runner import JobRunner
from . import _schemas as schemas
from ._control import CONFLICT, conflict_answer, started_answer
from ._deck import Deck
from ._openapi import AUTH_ERRORS, WRITE_ERRORS, Routes, error, param
from ._query import read_body
from ._schemas import NO_NUL, _json_object
from ._serialize import json_response

__all__ = ["build_schedule_routes", "schedule_answer"]

logger = logging.getLogger("jobdeck.api")

NEXT_RUNS = 5
_PAST_PAGE = 500  # the newest past jobs read for the last runs' statuses
SCHEDULE_ID = param("schedule_id", "the schedule's id", {"type": "string", "pattern": NO_NUL, "maxLength": 200},
                    where="path")
NOT_FOUND = error("no such schedule")
_ID_PATTERN = "^[^/\\x00\\s]([^/\\x00]*[^/\\x00\\s])?$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("cron", "timezone", check_fields=False)
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise InvalidArgumentError("text must not contain NUL characters")
        return value


class ScheduleRequest(_Body):
    """``{"id": "nightly", "jobType": "Cleanup", "cron": "0 3 * * *", "timezone": "Europe/Helsinki"}`` (or ``every``
    seconds instead of ``cron``)."""

    id: str = Field(description="the schedule's id: any text without '/' (it is part of the schedule's URL)",
                    min_length=1, max_length=200, json_schema_extra={"pattern": _ID_PATTERN})
    jobType: str = Field(description="a registered job type", min_length=1, json_schema_extra={"pattern": NO_NUL})
    cron: str | None = Field(None, description="five fields (minute hour day-of-month month day-of-week) or "
                                               "@hourly/@daily/@weekly/@monthly/@yearly, on the zone's wall clock")
    every: float | None = Field(None, description="seconds between runs (at least 1, at most ten years), instead of "
                                                  "cron", ge=1, le=MAX_SECONDS)
    timezone: str = Field("UTC", description="an IANA zone name, e.g. Europe/Helsinki")
    params: dict[str, Any] | None = Field(None, description="the job's params (checked against the type's)",
                                          json_schema_extra=_json_object)
    overlap: Literal["skip", "queue"] = Field("skip", description="skip an occurrence while a job of the schedule "
                                                                  "runs (or the type is at max_concurrent), or "
                                                                  "queue it (at most one waits)")
    misfireGrace: float = Field(DEFAULT_MISFIRE_GRACE, description="seconds: occurrences missed by less start once "
                                                                    "(after downtime); older ones count as missed",
                                ge=0, le=MAX_SECONDS)


class SchedulePatch(_Body):
    """Pause or resume (``paused``); admin schedules may also be redefined (``cron`` or ``every``, ``params``,
    ``timezone``)."""

    paused: bool | None = None
    cron: str | None = None
    every: float | None = Field(None, ge=1, le=MAX_SECONDS)
    params: dict[str, Any] | None = Field(None, description="the job's params (checked against the type's)",
                                          json_schema_extra=_json_object)
    timezone: str | None = None


class LastRunOut(BaseModel):
    jobId: str
    status: str = Field(description="the job's status now (as recorded when the job is no longer kept)")
    time: str | None = Field(description="the occurrence it ran for")


class SkipOut(BaseModel):
    time: str | None
    reason: str


class ScheduleOut(BaseModel):
    """A schedule: its definition and what became of its occurrences."""

    id: str
    jobType: str
    cron: str | None
    every: float | None = Field(description="seconds between runs (null for a cron schedule)")
    timezone: str
    params: Any = Field(json_schema_extra=schemas._json_value)
    overlap: str
    misfireGrace: float
    paused: bool
    disabled: bool = Field(description="a code schedule the code no longer defines: never fires, history kept")
    source: Literal["code", "admin"]
    nextRuns: list[str] = Field(description="the next five occurrences (none while paused or disabled)")
    lastRun: LastRunOut | None
    waiting: str | None = Field(description="overlap=queue: the occurrence waiting for the slot")
    started: int
    missed: int = Field(description="occurrences older than misfireGrace when they could have started: never run")
    coalesced: int = Field(description="occurrences within misfireGrace covered by a later one's start (after "
                                       "downtime, several start once)")
    skipped: int
    lastSkip: SkipOut | None
    createdBy: str
    updatedBy: str
    updated: str | None


class ScheduleDeleted(BaseModel):
    message: str
    id: str


def schedule_answer(schedule: Schedule, now: float, status: str | None = None) -> dict[str, Any]:
    """The JSON of a schedule (``status``: its last job's status now, when known)."""
    s = schedule.spec
    last = schedule.last_run
    skip = schedule.last_skip
    return {
        "id": s.id, "jobType": s.job_type, "cron": s.cron, "every": s.every, "timezone": s.timezone,
        "params": s.params, "overlap": s.overlap, "misfireGrace": s.misfire_grace, "paused": schedule.paused,
        "disabled": schedule.disabled, "source": schedule.source,
        "nextRuns": _next_runs(schedule, now),
        "lastRun": None if last is None else {"jobId": last.job_id, "status": status or last.status,
                                              "time": format_time(last.time)},
        "waiting": format_time(schedule.waiting), "started": schedule.started, "missed": schedule.missed,
        "coalesced": schedule.coalesced,
        "skipped": schedule.skipped,
        "lastSkip": None if skip is None else {"time": format_time(skip.time), "reason": skip.reason},
        "createdBy": schedule.created_by, "updatedBy": schedule.updated_by, "updated": format_time(schedule.updated),
    }


def _next_runs(schedule: Schedule, now: float) -> list[str | None]:
    """The next five occurrences as ISO times (none while paused or disabled). A stored definition whose times
    cannot be computed or shown (written by hand, say) shows none, rather than failing the whole list."""
    if not schedule.active:
        return []
    try:
        return [format_time(t) for t in next_runs(schedule.spec, now, NEXT_RUNS)]
    except Exception:
        logger.warning("schedule %s: its next runs cannot be computed", schedule.id, exc_info=True)
        return []


def _answers(deck: Deck, found: list[Schedule]) -> list[dict[str, Any]]:
    """The schedules' JSON, each last run with its job's status now."""
    now = time.time()
    statuses = _statuses(deck, {s.last_run.job_id for s in found if s.last_run is not None})
    return [schedule_answer(s, now, statuses.get(s.last_run.job_id) if s.last_run else None) for s in found]


def _statuses(deck: Deck, job_ids: set[str]) -> dict[str, str]:
    """The status of each of ``job_ids`` that the store still has. Last runs are mostly active or recent: the
    active list and one page of the newest past jobs answer for most, a head read each for the rest (a thousand
    schedules cost two list reads, not a thousand)."""
    store = deck.store
    found: dict[str, str] = {}
    if len(job_ids) > 2:
        for job in store.get_active_jobs(messages=False) + store.get_past_jobs(messages=False,
                                                                               limit=_PAST_PAGE):
            if job.id in job_ids:
                found[job.id] = job.status.value
    for job_id in job_ids - found.keys():
        try:
            found[job_id] = store.require_job(job_id, messages=False).status.value
        except JobNotFoundError:  # evicted: the recorded status stands
            continue
    return found


def _runner(deck: Deck, job_type: str) -> JobRunner:
    if deck.runner is None:
        raise UnknownJobTypeError(job_type, [])
    return deck.runner


def build_schedule_routes(deck: Deck) -> Routes:
    """The schedule endpoints, bound to ``deck``."""
    routes = Routes("schedules")
    store = deck.store
    identify = deck.auth.identify
    permissions = deck.permissions

    def one(schedule_id: str) -> dict[str, Any]:
        found = store.get_schedule(schedule_id)
        if found is None:
            raise ScheduleNotFoundError(schedule_id)
        return _answers(deck, [found])[0]

    def changed(runner: JobRunner | None) -> None:
        deck.wrote()
        if runner is not None:
            runner.wake()

    @routes.get("/schedules", responses={200: {"model": list[ScheduleOut]}, **AUTH_ERRORS},
                summary="Every schedule: its definition, next five runs, last run and missed count")
    async def list_schedules(request: Request) -> Response:
        await identify(request)
        found = await deck.call(store.schedules)
        return json_response(await deck.call(_answers, deck, found))

    @routes.get("/schedules/{schedule_id}", params=(SCHEDULE_ID,),
                responses={200: {"model": ScheduleOut}, **AUTH_ERRORS, 404: NOT_FOUND}, summary="One schedule")
    async def get_schedule(request: Request) -> Response:
        await identify(request)
        return json_response(await deck.call(one, request.path_params["schedule_id"]))

    @routes.post("/schedules", body=ScheduleRequest, body_required=True,
                 responses={201: {"model": ScheduleOut}, **AUTH_ERRORS, **WRITE_ERRORS,
                            404: error("unknown job type"), 409: error("a schedule with this id exists")},
                 summary="Create a schedule (admin): cron or every, for a registered type")
    async def create_schedule(request: Request) -> Response:
        principal = await identify(request)
        body = await read_body(request, ScheduleRequest, True)
        permissions.require_admin(principal, "creating schedules")
        permissions.require_start(principal, body.jobType)
        runner = _runner(deck, body.jobType)
        spec = ScheduleSpec.build(body.id, body.jobType, cron=body.cron, every=body.every, timezone=body.timezone,
                                  params=body.params, overlap=body.overlap, misfire_grace=body.misfireGrace)
        try:
            created = await deck.call(runner.scheduler.create, spec, principal.name)
        finally:
            changed(runner)
        return json_response(schedule_answer(created, time.time()), 201)

    async def patch_schedule(request: Request) -> Response:
        principal = await identify(request)
        schedule_id = request.path_params["schedule_id"]
        body = await read_body(request, SchedulePatch, True)
        what = "pausing or resuming" if set(body.model_fields_set) <= {"paused"} else "changing"
        permissions.require_admin(principal, f"{what} schedules")
        runner = _runner(deck, "")
        if body.cron is not None and body.every is not None:
            raise InvalidArgumentError("give one of cron and every", "cron")
        try:
            await deck.call(lambda: runner.scheduler.edit(
                schedule_id, principal.name, paused=body.paused, cron=body.cron, every=body.every,
                params=body.params, timezone=body.timezone))
        finally:
            changed(runner)
        return json_response(await deck.call(one, schedule_id))

    routes.add("PATCH", "/schedules/{schedule_id}", patch_schedule, params=(SCHEDULE_ID,), body=SchedulePatch,
               body_required=True,
               responses={200: {"model": ScheduleOut}, **AUTH_ERRORS, **WRITE_ERRORS, 404: NOT_FOUND,
                          409: error("a code schedule can be paused and resumed, not edited")},
               summary="Pause or resume a schedule, or change an admin schedule's cron/every, params, timezone")

    async def delete_schedule(request: Request) -> Response:
        principal = await identify(request)
        schedule_id = request.path_params["schedule_id"]
        permissions.require_admin(principal, "deleting schedules")
        runner = _runner(deck, "")
        try:
            await deck.call(runner.scheduler.delete, schedule_id)
        finally:
            changed(runner)
        return json_response({"message": f"schedule {schedule_id!r} deleted", "id": schedule_id})

    routes.add("DELETE", "/schedules/{schedule_id}", delete_schedule, params=(SCHEDULE_ID,),
               responses={200: {"model": ScheduleDeleted}, **AUTH_ERRORS, 404: NOT_FOUND,
                          409: error("a code schedule cannot be deleted (remove it from the code)")},
               summary="Delete an admin schedule (its jobs stay)")

    @routes.post("/schedules/{schedule_id}/trigger", params=(SCHEDULE_ID,),
                 responses={201: {"model": schemas.StartedJob}, **AUTH_ERRORS, **WRITE_ERRORS, 404: NOT_FOUND,
                            409: CONFLICT},
                 summary="Run now: start a job of the schedule at once (the type's max_concurrent holds)")
    async def trigger_schedule(request: Request) -> Response:
        principal = await identify(request)
        schedule_id = request.path_params["schedule_id"]
        schedule = await deck.call(store.get_schedule, schedule_id)
        if schedule is None:
            raise ScheduleNotFoundError(schedule_id)
        permissions.require_start(principal, schedule.spec.job_type)
        runner = _runner(deck, schedule.spec.job_type)
        try:
            job = await deck.call(runner.scheduler.trigger, schedule_id, principal.name)
        except JobConflictError as exc:
            return await conflict_answer(deck, exc)
        finally:
            changed(runner)
        return json_response(started_answer(deck, runner, job), 201)

    return routes
