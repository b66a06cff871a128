"""The client's schedule calls: list, create, change, pause, resume, delete and trigger (``/schedules``).

A mixin of :class:`jobdeck.Client`, kept apart so that the job calls and the schedule calls each stay one
screenful; it needs only the client's ``_json`` and ``_request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypedDict
from urllib.parse import quote

import httpx

from ..core.errors import InvalidArgumentError
from ..core.model import JobInfo

__all__ = ["LastRun", "ScheduleCalls", "ScheduleInfo"]


class LastRun(TypedDict):
    """The newest occurrence a schedule started: its job, the job's status and the time it was started."""

    jobId: str
    status: str
    time: str


class ScheduleInfo(TypedDict, total=False):
    """A schedule as ``GET /schedules`` answers it (camelCase, as the API sends it; times in ISO 8601)."""

    id: str
    jobType: str
    cron: str | None
    every: float | None  # seconds
    timezone: str
    params: dict[str, Any]
    paused: bool
    source: str  # "code" or "admin"
    overlap: str
    nextRuns: list[str]
    lastRun: LastRun | None
    missed: int
    coalesced: int  # missed within misfireGrace: covered by one later start
    skipped: int


def _seconds(every: float | timedelta) -> float:
    seconds = every.total_seconds() if isinstance(every, timedelta) else every
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise InvalidArgumentError(f"every must be a positive number of seconds or a timedelta, got {every!r}")
    return float(seconds)


def _schedule_path(schedule_id: str, tail: str = "") -> str:
    return f"/schedules/{quote(str(schedule_id), safe='')}{tail}"


class ScheduleCalls:
    """``Client.schedules()`` and friends. Viewers may list; every change needs the admin role (403 otherwise)."""

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    def _request(self, method: str, path: str, *, under_prefix: bool = True,
                 **kwargs: Any) -> httpx.Response:  # pragma: no cover - the client's
        raise NotImplementedError

    def schedules(self) -> list[ScheduleInfo]:
        """Every schedule, with its next five runs, its last run and how many runs it missed."""
        answer: list[ScheduleInfo] = self._json("GET", "/schedules")
        return answer

    def create_schedule(
        self,
        schedule_id: str,
        job_type: str,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        timezone: str | None = None,
        params: Mapping[str, Any] | None = None,
        overlap: str | None = None,
        paused: bool | None = None,
    ) -> ScheduleInfo:
        """Create a schedule of ``job_type`` with ``cron`` (read in ``timezone``) or ``every`` (seconds or a
        timedelta): exactly one of the two. 400 for a bad expression, zone or params (the message names it), 404
        an unknown type, 409 an id that is taken."""
        if (cron is None) == (every is None):
            raise InvalidArgumentError("give a schedule either cron or every (exactly one)")
        body: dict[str, Any] = {"id": schedule_id, "jobType": job_type}
        if cron is not None:
            body["cron"] = cron
        if every is not None:
            body["every"] = _seconds(every)
        for name, value in (("timezone", timezone), ("overlap", overlap), ("paused", paused)):
            if value is not None:
                body[name] = value
        if params is not None:
            body["params"] = dict(params)
        answer: ScheduleInfo = self._json("POST", "/schedules", json=body)
        return answer

    def update_schedule(
        self,
        schedule_id: str,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        timezone: str | None = None,
        params: Mapping[str, Any] | None = None,
        paused: bool | None = None,
    ) -> ScheduleInfo:
        """Change what is given (None leaves a field as it is); giving ``cron`` drops ``every`` and the other way
        round. A schedule defined in code can only be paused and resumed (409 otherwise)."""
        if cron is not None and every is not None:
            raise InvalidArgumentError("give a schedule either cron or every, not both")
        body: dict[str, Any] = {}
        if cron is not None:
            body.update(cron=cron, every=None)
        if every is not None:
            body.update(every=_seconds(every), cron=None)
        if timezone is not None:
            body["timezone"] = timezone
        if params is not None:
            body["params"] = dict(params)
        if paused is not None:
            body["paused"] = paused
        if not body:
            raise InvalidArgumentError("nothing to change: give cron, every, timezone, params or paused")
        answer: ScheduleInfo = self._json("PATCH", _schedule_path(schedule_id), json=body)
        return answer

    def pause_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Stop a schedule firing until it is resumed (idempotent); 404 unknown."""
        return self.update_schedule(schedule_id, paused=True)

    def resume_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Let a paused schedule fire again from its next occurrence (idempotent); 404 unknown."""
        return self.update_schedule(schedule_id, paused=False)

    def delete_schedule(self, schedule_id: str) -> None:
        """Remove a schedule made by an admin (the jobs it started stay); 404 unknown, 409 one defined in code."""
        self._request("DELETE", _schedule_path(schedule_id))

    def trigger_schedule(self, schedule_id: str) -> JobInfo:
        """Start the schedule's job now, with its params, whatever its next run (a paused schedule too); the
        job carries ``schedule_id``. 404 unknown schedule, 409 the type's limit."""
        return JobInfo.from_dict(self._json("POST", _schedule_path(schedule_id, "/trigger"), json={}))
