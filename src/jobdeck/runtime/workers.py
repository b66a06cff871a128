"""This process in the worker registry (issue 22): what the supervisor writes each heartbeat round.

A process that runs handlers -- a runner on the local executor (``jobdeck serve``, a script), or an engine's
``jobdeck worker`` -- keeps one record in the store (:class:`~jobdeck.core.workers.WorkerInfo`): its owner token,
host and pid, the executor, the types whose handlers it has, how many jobs it runs at once and which it runs now.
The supervisor's existing heartbeat round rewrites it (no thread of its own), and a clean stop removes it; a process
that dies simply stops being seen, and readers show it as gone after the store's ``stale_after``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..core.workers import RunningRef, WorkerInfo
from ..stores.base import Store

__all__ = ["WorkerBeacon"]

logger = logging.getLogger("jobdeck.runner")


@dataclass(eq=False)
class WorkerBeacon:
    """How this process describes itself: ``executor`` (its name), ``concurrency`` (None: no bound of its own),
    and when it began serving (``started``)."""

    executor: str
    concurrency: int | None
    started: float = field(default_factory=time.time)
    failed: bool = False  # the last beat failed (logged once until one succeeds)

    def record(self, owner: str, job_types: Iterable[str], running: Iterable[tuple[str, str, float]]) -> WorkerInfo:
        """The record for ``owner`` now; ``running``: (job id, type, monotonic start) of each run here."""
        now_wall, now_mono = time.time(), time.monotonic()
        jobs = tuple(RunningRef(job_id, job_type, now_wall - (now_mono - began))
                     for job_id, job_type, began in running)
        return WorkerInfo(owner, socket.gethostname(), os.getpid(), self.executor, tuple(sorted(job_types)),
                          self.concurrency, self.started, jobs=jobs)

    def beat(self, store: Store, record: WorkerInfo) -> None:
        """Write ``record``; a failure is logged once (the job heartbeats of the same round report the outage)."""
        try:
            store.beat_worker(record)
        except Exception as exc:
            if not self.failed:
                logger.warning("could not record this worker in the store (retrying each heartbeat): %s: %s",
                               type(exc).__name__, exc)
            self.failed = True
            return
        self.failed = False

    def forget(self, store: Store, owner: str) -> None:
        """Remove this process's record (a clean stop); a store that is away is left to show it as gone."""
        try:
            store.forget_worker(owner)
        except Exception as exc:
            logger.debug("could not remove this worker's record: %s", exc)
