"""Diagnoses in the API's answers (issue 22): each active job in ``/active``, ``/search`` and the single view carries
``diagnosis: {code, text}`` (:mod:`jobdeck.core.diagnosis`).

A request reads the worker registry once, and only when an active job is in its answer (:class:`Diagnoser`); the
diagnosis is spliced into the job's cached bytes (:class:`~jobdeck.api._cache.JobBytesCache`) rather than cached
with them, since it changes with time alone (a job turns ``stalled`` without any write). Answers are cached for at
most a second (:mod:`jobdeck.api._answers`), so a diagnosis is at most that old; the answer's key holds the
request's language, since the sentence is written in it.
"""

from __future__ import annotations

import time

from ..core.diagnosis import Diagnosis, Scene, rules_of
from ..core.i18n import DEFAULT_LOCALE
from ..core.model import JobInfo
from ..runtime.runner import JobRunner
from ..stores.base import Store
from ._cache import JobBytesCache

__all__ = ["Diagnoser", "render_diagnosed", "with_diagnosis"]

_KEY = b',"diagnosis":'


class Diagnoser:
    """The diagnoses of one request: reads the workers from ``store`` on first use (sync: call it where store calls
    may block, in the thread pool for a blocking store), with the types and the abort grace of ``runner``, in the
    request's language ``lang`` (the sentences; the codes are the same in every language)."""

    def __init__(self, store: Store, runner: JobRunner | None, lang: str = DEFAULT_LOCALE) -> None:
        self.store, self.runner, self.lang = store, runner, lang
        self._scene: Scene | None = None

    @property
    def scene(self) -> Scene:
        if self._scene is None:
            runner = self.runner
            rules = rules_of(runner.types) if runner is not None else {}
            grace = runner.abort_grace if runner is not None else None
            self._scene = Scene(self.store.get_workers(), time.time(), self.store.stale_after, abort_grace=grace,
                                rules=rules, lang=self.lang)
        return self._scene

    def of(self, job: JobInfo) -> Diagnosis | None:
        """The job's diagnosis (None for a finished job: no read at all)."""
        return self.scene.diagnose(job) if job.is_active else None

    def all_json(self, jobs: list[JobInfo]) -> list[bytes | None]:
        """Each job's diagnosis as JSON bytes (None for a finished job)."""
        if not any(job.is_active for job in jobs):
            return [None] * len(jobs)
        json_of = self.scene.json_of
        return [json_of(job) for job in jobs]


def with_diagnosis(job: bytes, diagnosis: Diagnosis | bytes | None) -> bytes:
    """A job's JSON object with ``"diagnosis": {...}`` added (unchanged for None)."""
    if diagnosis is None:
        return job
    return b'%s,"diagnosis":%s}' % (job[:-1], diagnosis if isinstance(diagnosis, bytes) else diagnosis.to_json())


def render_diagnosed(cache: JobBytesCache, jobs: list[JobInfo], keep: int | None,
                     diagnoses: list[bytes | None]) -> bytes:
    """:meth:`JobBytesCache.render_list` with each job's diagnosis (JSON bytes, :meth:`Diagnoser.all_json`)
    spliced in."""
    if not jobs:
        return b"[]"
    render = cache.render
    parts: list[bytes | memoryview] = [b"["]
    add = parts.extend
    for job, found in zip(jobs, diagnoses, strict=True):
        body = render(job, keep)
        if found is None:
            add((body, b","))
        else:  # the job's object without its closing brace (a view: no copy), then the diagnosis: one join copies
            add((memoryview(body)[:-1], _KEY, found, b"},"))
    parts[-1] = b"}]" if parts[-1] == b"}," else b"]"  # the last job's "," becomes the list's end
    return b"".join(parts)
