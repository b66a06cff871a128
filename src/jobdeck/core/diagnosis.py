"""Why an active job is where it is (issue 22): a short machine-readable ``code`` and a sentence, from data a reader
already has -- the job's head, the worker registry (read once per request, never per job) and the type's rules.

    scene = Scene(store.get_workers(), time.time(), store.stale_after, abort_grace=30.0, rules=rules_of(types))
    scene.diagnose(job)   # Diagnosis("no_worker", "no live worker runs DataImport")

The codes:

- ``queued``: ``scheduled`` (a start for later, ``runAt``, not due yet), ``retry_wait`` (its next attempt is not due
  yet), ``no_worker`` (no live worker runs its type),
  ``slot_busy`` (the type runs N at a time and N run, or every live worker that runs it is full), ``dispatching``
  (a worker could take it: the engine has not delivered it yet, or its due retry is being started);
- ``running``: ``heartbeat_late`` (its process has not said it is alive for three heartbeat intervals), ``stalled``
  (no progress change and no message for the type's ``stall_after`` while heartbeats go on), ``ok``;
- ``aborting``: ``abort_pending`` (when the abort was asked, by whom, and when the job is failed if it does not stop).

Everything here is arithmetic on values in memory: a list of 100 jobs costs a few microseconds per job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .i18n import DEFAULT_LOCALE, translate
from .jobtype import DEFAULT_STALL_AFTER, JobType
from .jsoncodec import dumps
from .model import JobInfo, JobStatus, format_time
from .workers import RunningRef, WorkerInfo

__all__ = ["CODES", "Diagnosis", "QueueFigures", "Scene", "TypeRules", "heartbeat_late_after", "rules_of", "span"]

_RUNNING = JobStatus.RUNNING  # enum member lookups cost ~0.1 us: json_of runs once per job of a list
CODES = ("scheduled", "retry_wait", "no_worker", "slot_busy", "dispatching", "heartbeat_late", "stalled", "ok",
         "abort_pending")


class Diagnosis(NamedTuple):
    """``code`` (one of :data:`CODES`) and ``text``, the sentence a person reads. (A named tuple: lists make one
    per active job, and a tuple is the cheapest object to make.)"""

    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}

    def to_json(self) -> bytes:
        """``{"code":...,"text":...}`` as JSON bytes (the code is one of :data:`CODES`: plain ASCII)."""
        return b'{"code":"%s","text":%s}' % (self.code.encode(), dumps(self.text))


@dataclass(frozen=True, slots=True)
class TypeRules:
    """What a diagnosis needs to know of a job type."""

    max_concurrent: int = 1
    stall_after: float | None = DEFAULT_STALL_AFTER


_DEFAULT_RULES = TypeRules()


def rules_of(types: Iterable[JobType]) -> dict[str, TypeRules]:
    """The rules of registered types, by name."""
    return {t.name: TypeRules(t.max_concurrent, t.stall_after) for t in types}


def span(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``: a duration read at a glance."""
    whole = int(seconds + 0.5) if seconds > 0 else 0
    if whole < 90:
        return f"{whole} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def heartbeat_late_after(stale_after: float) -> float:
    """Seconds of silence after which a running job's heartbeat is late: three of the runner's default intervals
    (``stale_after / 6``, at most 10 s), so half the stale window at most."""
    return 3 * min(10.0, max(0.05, stale_after / 6))


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One job type's queue: ``queued`` jobs, the ``oldest_wait`` among them (seconds, None with none), and the
    live workers that run the type."""

    job_type: str
    queued: int
    oldest_wait: float | None
    live_workers: int

    def to_dict(self) -> dict[str, Any]:
        wait = None if self.oldest_wait is None else round(self.oldest_wait, 3)
        return {"jobType": self.job_type, "queued": self.queued, "oldestWait": wait, "liveWorkers": self.live_workers}


class Scene:
    """What one request knows: the workers (read once), the time, the store's ``stale_after``, the runner's
    ``abort_grace`` (None: unknown here) and the types' rules (a type not in ``rules`` gets the defaults).
    ``lang``: the language of the sentences (the ``why.*`` keys of jobdeck's catalogs); the codes never change."""

    def __init__(self, workers: Sequence[WorkerInfo], now: float, stale_after: float, *,
                 abort_grace: float | None = None, rules: Mapping[str, TypeRules] | None = None,
                 lang: str = DEFAULT_LOCALE) -> None:
        self.workers, self.now, self.stale_after = workers, now, stale_after
        self.abort_grace, self.rules, self.lang = abort_grace, rules or {}, lang
        self.live = [w for w in workers if w.live(now, stale_after)]
        self._late_after = heartbeat_late_after(stale_after)
        self._json: dict[Diagnosis, bytes] = {}
        self._working: dict[int, bytes] = {}  # "working: last report N s ago" by N
        self._serving: dict[str, list[WorkerInfo]] = {}
        for worker in self.live:
            for name in worker.job_types:
                self._serving.setdefault(name, []).append(worker)

    def serving(self, job_type: str) -> list[WorkerInfo]:
        """The live workers that run ``job_type``."""
        return self._serving.get(job_type, [])

    def diagnose(self, job: JobInfo) -> Diagnosis | None:
        """The diagnosis of an active job (None for a finished one)."""
        if job.status is JobStatus.QUEUED:
            return self._queued(job)
        if job.status is JobStatus.RUNNING:
            return self._running(job)
        if job.status is JobStatus.ABORTING:
            return self._aborting(job)
        return None

    def json_of(self, job: JobInfo) -> bytes | None:
        """:meth:`diagnose` as JSON bytes, made once per distinct sentence in this scene (jobs of a list share
        most sentences: "working: last report 2 s ago")."""
        if job.status is _RUNNING:  # the common case, without making a Diagnosis: "working" by whole seconds
            now = self.now
            quiet = now - job.last_activity_time
            rules = self.rules.get(job.job_type)
            stall_after = rules.stall_after if rules is not None else DEFAULT_STALL_AFTER
            beat = job.heartbeat_time or job.start_time
            if (now - max(beat, job.last_activity_time) <= self._late_after
                    and (stall_after is None or quiet <= stall_after)):
                whole = int(quiet + 0.5) if quiet > 0 else 0
                working = self._working.get(whole)
                if working is None:
                    working = Diagnosis("ok", self._t("why.ok", ago=span(quiet))).to_json()
                    self._working[whole] = working
                return working
        found = self.diagnose(job)
        if found is None:
            return None
        cached = self._json.get(found)
        if cached is None:
            cached = self._json[found] = found.to_json()
        return cached

    def stalled(self, job: JobInfo) -> bool:
        """Whether ``job`` is running, its process alive, and silent for longer than its type's ``stall_after``."""
        return job.status is JobStatus.RUNNING and self._running(job).code == "stalled"

    def queues(self, active: Iterable[JobInfo]) -> list[QueueFigures]:
        """Per job type (every type a live worker runs, and every type with queued jobs), by name."""
        queued: dict[str, list[float]] = {name: [] for name in self._serving}
        for job in active:
            if job.status is JobStatus.QUEUED:
                since = job.queued_time if job.queued_time is not None else job.start_time
                queued.setdefault(job.job_type, []).append(self.now - since)
        return [QueueFigures(name, len(waits), max(waits) if waits else None, len(self.serving(name)))
                for name, waits in sorted(queued.items())]

    def _t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

    # ------------------------------------------------------------------ by status

    def _queued(self, job: JobInfo) -> Diagnosis:
        name = job.job_type
        if job.retry_at is not None and job.retry_at > self.now:
            if job.run_at is not None and job.attempt <= 1:  # a start for later waits as a due retry does
                at, wait = format_time(job.run_at), span(job.run_at - self.now)
                return Diagnosis("scheduled", self._t("why.scheduled_by", at=at, wait=wait, schedule=job.schedule_id)
                                 if job.schedule_id else self._t("why.scheduled", at=at, wait=wait))
            return Diagnosis("retry_wait", self._t("why.retry_wait", attempt=job.attempt, of=job.max_attempts,
                                                   wait=span(job.retry_at - self.now), at=format_time(job.retry_at)))
        serving = self.serving(name)
        if not serving:
            return Diagnosis("no_worker", self._no_worker(name))
        holders = sorted((ref for w in serving for ref in w.jobs if ref.job_type == name),
                         key=lambda r: r.started_time)
        limit = self.rules.get(name, _DEFAULT_RULES).max_concurrent
        if len(holders) >= limit:
            return Diagnosis("slot_busy", self._t("why.slot_busy_type", type=name, limit=limit,
                                                  held=self._held(holders)))
        if all(w.free_slots() == 0 for w in serving):
            slots = sum(w.concurrency or 0 for w in serving)
            busy = sorted((ref for w in serving for ref in w.jobs), key=lambda r: r.started_time)
            key = "why.slot_busy_worker" if len(serving) == 1 else "why.slot_busy_workers"
            return Diagnosis("slot_busy", self._t(key, type=name, count=len(serving), slots=slots,
                                                  held=self._held(busy)))
        if job.retry_at is not None:
            return Diagnosis("dispatching", self._t("why.retry_due", attempt=job.attempt, type=name))
        since = job.queued_time if job.queued_time is not None else job.start_time
        return Diagnosis("dispatching", self._t("why.dispatching", ago=span(self.now - since), type=name))

    def _held(self, holders: list[RunningRef]) -> str:
        if not holders:
            return self._t("why.held_freeing")
        first = holders[0]
        return self._t("why.held_one" if len(holders) == 1 else "why.held_many", job=first.id[:8],
                       running=span(self.now - first.started_time))

    def _no_worker(self, job_type: str) -> str:
        gone = [w for w in self.workers if job_type in w.job_types and not w.live(self.now, self.stale_after)]
        if not gone:
            return self._t("why.no_worker", type=job_type)
        last = max(gone, key=lambda w: w.last_seen)
        return self._t("why.no_worker_gone", type=job_type, worker=f"{last.host}:{last.pid}",
                       ago=span(self.now - last.last_seen))

    def _running(self, job: JobInfo) -> Diagnosis:
        beat = max(job.heartbeat_time or job.start_time, job.last_activity_time)
        if self.now - beat > self._late_after:
            return Diagnosis("heartbeat_late", self._t("why.heartbeat_late", ago=span(self.now - beat),
                                                       stale=span(self.stale_after)))
        quiet = self.now - job.last_activity_time
        stall_after = self.rules.get(job.job_type, _DEFAULT_RULES).stall_after
        if stall_after is not None and quiet > stall_after:
            return Diagnosis("stalled", self._t("why.stalled", quiet=span(quiet)))
        return Diagnosis("ok", self._t("why.ok", ago=span(quiet)))

    def _aborting(self, job: JobInfo) -> Diagnosis:
        asked = job.abort_time if job.abort_time is not None else job.last_activity_time
        ago = span(self.now - asked)
        text = (self._t("why.abort_by", ago=ago, by=job.aborted_by) if job.aborted_by
                else self._t("why.abort", ago=ago))
        if self.abort_grace is not None:
            left = asked + self.abort_grace - self.now
            text += (self._t("why.abort_left", left=span(left)) if left > 0 else self._t("why.abort_overdue"))
        return Diagnosis("abort_pending", text)
