"""A schedule as the store keeps it: its definition (:class:`~jobdeck.core.schedule.ScheduleSpec`) and its state
(the next occurrence, the occurrence being started, the last run, what was missed or skipped), as plain data with a
JSON form. Stores keep that JSON text and a revision number; every change is a compare-and-set on the revision
(``Store.update_schedule``), which is what makes each occurrence start once (see :mod:`jobdeck.runtime.scheduling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import InvalidArgumentError
from .schedule import ScheduleSpec, next_after

__all__ = ["LastRun", "Outcome", "Pending", "Schedule", "ScheduleOutcome", "Skip", "Source"]

Source = Literal["code", "admin"]
Outcome = Literal["started", "skipped", "missed"]


@dataclass(frozen=True, slots=True)
class LastRun:
    """The newest job a schedule started: its id, its status when last looked at, and when it was started."""

    job_id: str
    status: str
    time: float


@dataclass(frozen=True, slots=True)
class Pending:
    """An occurrence claimed for starting (``occurrence``) whose job (id ``job_id``, chosen at the claim) may not
    exist yet; ``since`` is when it was claimed. Cleared once the job exists (or the occurrence was skipped)."""

    occurrence: float
    job_id: str
    since: float


@dataclass(frozen=True, slots=True)
class Skip:
    """The newest occurrence that was skipped, and why."""

    time: float
    reason: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule's definition and state. ``source``: ``code`` (``runner.schedule``) or ``admin`` (the API);
    ``disabled``: a code schedule that the code no longer defines (kept for its history, never fires); ``waiting``:
    with ``overlap="queue"``, the occurrence waiting for the slot to free (at most one)."""

    spec: ScheduleSpec
    source: Source = "admin"
    paused: bool = False
    disabled: bool = False
    next_fire: float | None = None
    pending: Pending | None = None
    waiting: float | None = None
    last_run: LastRun | None = None
    missed: int = 0
    coalesced: int = 0
    skipped: int = 0
    last_skip: Skip | None = None
    started: int = 0
    created_by: str = ""
    updated_by: str = ""
    updated: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a newer version, kept as they were

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def active(self) -> bool:
        """Whether its occurrences fire (not paused, not removed from the code)."""
        return not self.paused and not self.disabled

    @classmethod
    def new(cls, spec: ScheduleSpec, source: Source, by: str, now: float) -> Schedule:
        return cls(spec, source, next_fire=next_after(spec, now), created_by=by, updated_by=by, updated=now)

    def redefined(self, spec: ScheduleSpec, by: str, now: float) -> Schedule:
        """With a new definition (history kept); the next occurrence is the new definition's."""
        return replace(self, spec=spec, next_fire=next_after(spec, now), updated_by=by, updated=now,
                       disabled=False)

    def to_dict(self) -> dict[str, Any]:
        """The storage form (snake_case; the API's camelCase form is the API's)."""
        s = self.spec
        return {
            **self.extra,
            "id": s.id, "job_type": s.job_type, "cron": s.cron, "every": s.every, "timezone": s.timezone,
            "params": s.params, "overlap": s.overlap, "misfire_grace": s.misfire_grace, "anchor": s.anchor,
            "source": self.source, "paused": self.paused, "disabled": self.disabled, "next_fire": self.next_fire,
            "pending": None if self.pending is None else
            {"occurrence": self.pending.occurrence, "job_id": self.pending.job_id, "since": self.pending.since},
            "waiting": self.waiting,
            "last_run": None if self.last_run is None else
            {"job_id": self.last_run.job_id, "status": self.last_run.status, "time": self.last_run.time},
            "missed": self.missed, "coalesced": self.coalesced, "skipped": self.skipped, "started": self.started,
            "last_skip": None if self.last_skip is None else
            {"time": self.last_skip.time, "reason": self.last_skip.reason},
            "created_by": self.created_by, "updated_by": self.updated_by, "updated": self.updated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """The inverse of :meth:`to_dict`; InvalidArgumentError for a record that is not one."""
        try:
            spec = ScheduleSpec(str(data["id"]), str(data["job_type"]), data.get("cron"),
                                None if data.get("every") is None else float(data["every"]),
                                str(data.get("timezone") or "UTC"), data.get("params") or {},
                                data.get("overlap") or "skip", float(data.get("misfire_grace", 3600.0)),
                                float(data.get("anchor") or 0.0))
            pending, last, skip = data.get("pending"), data.get("last_run"), data.get("last_skip")
            return cls(
                spec,
                source="code" if data.get("source") == "code" else "admin",
                paused=bool(data.get("paused")),
                disabled=bool(data.get("disabled")),
                next_fire=None if data.get("next_fire") is None else float(data["next_fire"]),
                pending=None if not pending else Pending(float(pending["occurrence"]), str(pending["job_id"]),
                                                         float(pending["since"])),
                waiting=None if data.get("waiting") is None else float(data["waiting"]),
                last_run=None if not last else LastRun(str(last["job_id"]), str(last["status"]), float(last["time"])),
                missed=int(data.get("missed") or 0),
                coalesced=int(data.get("coalesced") or 0),
                skipped=int(data.get("skipped") or 0),
                started=int(data.get("started") or 0),
                last_skip=None if not skip else Skip(float(skip["time"]), str(skip["reason"])),
                created_by=str(data.get("created_by") or ""),
                updated_by=str(data.get("updated_by") or ""),
                updated=float(data.get("updated") or 0.0),
                extra={k: v for k, v in data.items() if k not in _KNOWN},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"not a stored schedule: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ScheduleOutcome:
    """What became of a schedule's occurrence(s) in this process: ``started`` (``job_id``), ``skipped``
    (``reason``) or ``missed`` (``count`` occurrences older than the misfire grace); ``time`` is the occurrence's."""

    schedule_id: str
    job_type: str
    outcome: Outcome
    time: float
    count: int = 1
    job_id: str | None = None
    reason: str | None = None


# The keys Schedule.to_dict writes: anything else in a stored record is a newer version's, kept as it was.
_KNOWN = frozenset(Schedule(ScheduleSpec("", "")).to_dict())
