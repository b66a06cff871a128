"""Diagnoses in the API's answers (issue 22): each active job in ``/active``, ``/search`` and the single view carries
``diagnosis: {code, text}`` (:mod:`jobdeck.core.diagnosis`).

A request reads the worker registry once, and only when an active job is in its answer (:class:`Diagnoser`); the
diagnosis is spliced into the job's cached bytes (:class:`~jobdeck.api._cache.JobBytesCache`) rather than cached
with them, since it changes with time alone (a job turns ``stalled`` without any write). Answers are cached for at
most a second (:mod:`jobdeck.api._answers`), so a diagnosis is at most that old.
"""

from __future__ import annotations

import time

from ..core.diagnosis import Diagnosis, Scene, rules_of
from ..core.jsoncodec import dumps
from ..core.model import JobInfo
from ..runtime.runner import JobRunner
from ..stores.base import Store
from ._cache import JobBytesCache

__all__ = ["Diagnoser", "render_diagnosed", "with_diagnosis"]


class Diagnoser:
    """The diagnoses of one request: reads the workers from ``store`` on first use (sync: call it where store calls
    may block, in the thread pool for a blocking store), with the types and the abort grace of ``runner``."""

    def __init__(self, store: Store, runner: JobRunner | None) -> None:
        self.store, self.runner = store, runner
        self._scene: Scene | None = None

    @property
    def scene(self) -> Scene:
        if self._scene is None:
            runner = self.runner
            rules = rules_of(runner.types) if runner is not None else {}
            grace = runner.abort_grace if runner is not None else None
            self._scene = Scene(self.store.get_workers(), time.time(), self.store.stale_after, abort_grace=grace,
                                rules=rules)
        return self._scene

    def of(self, job: JobInfo) -> Diagnosis | None:
        """The job's diagnosis (None for a finished job: no read at all)."""
        return self.scene.diagnose(job) if job.is_active else None

    def all(self, jobs: list[JobInfo]) -> list[Diagnosis | None]:
        return [self.of(job) for job in jobs]


def with_diagnosis(job: bytes, diagnosis: Diagnosis | None) -> bytes:
    """A job's JSON object with ``"diagnosis": {...}`` added (unchanged for None)."""
    if diagnosis is None:
        return job
    return b"".join((job[:-1], b',"diagnosis":', dumps(diagnosis.to_dict()), b"}"))


def render_diagnosed(cache: JobBytesCache, jobs: list[JobInfo], keep: int | None,
                     diagnoses: list[Diagnosis | None]) -> bytes:
    """:meth:`JobBytesCache.render_list` with each job's diagnosis spliced in."""
    if not jobs:
        return b"[]"
    render = cache.render
    return b"".join((b"[", b",".join(with_diagnosis(render(job, keep), d) for job, d in zip(jobs, diagnoses,
                                                                                           strict=True)), b"]"))
