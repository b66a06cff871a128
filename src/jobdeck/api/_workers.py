"""``GET /workers`` (issue 22): the processes that run jobs and, per job type, its queue; and their metrics.

Each worker (:class:`~jobdeck.core.workers.WorkerInfo`) with ``live`` (heartbeat within the store's
``stale_after``), ``busy`` (running a job now), ``heartbeatAge`` (seconds); each job type a live worker runs or
that has queued jobs with ``queued``, ``oldestWait`` (seconds) and ``liveWorkers``. One read of the registry and one
of the active jobs' heads per request.

Metrics (store-wide, read at scrape time: take ``max`` over instances): ``jobdeck_workers{executor}`` (live
workers), ``jobdeck_queue_oldest_wait_seconds{job_type}``, ``jobdeck_jobs_stalled{job_type}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from ..core.diagnosis import Scene, rules_of
from ..core.errors import JobdeckError
from ..runtime.runner import JobRunner
from ..stores.base import Store
from ._deck import Deck
from ._openapi import AUTH_ERRORS, Routes
from ._serialize import json_response

__all__ = ["CockpitCollector", "build_workers_routes", "workers_page"]

logger = logging.getLogger("jobdeck.metrics")


class _RunningJob(BaseModel):
    id: str
    jobType: str
    startedTime: str


class _Worker(BaseModel):
    id: str = Field(description="host:pid:token, as the jobs it runs record their owner")
    host: str
    pid: int
    executor: str = Field(description="local, celery or procrastinate")
    jobTypes: list[str]
    concurrency: int | None = Field(description="jobs it runs at once (null: no bound of its own)")
    startedTime: str
    lastSeen: str
    jobs: list[_RunningJob]
    live: bool = Field(description="heartbeat within the store's staleAfter; gone otherwise (listed for an hour)")
    busy: bool
    heartbeatAge: float = Field(description="seconds since its last heartbeat")


class _Queue(BaseModel):
    jobType: str
    queued: int
    oldestWait: float | None = Field(description="seconds the oldest queued job has waited")
    liveWorkers: int = Field(description="live workers that run the type")


class WorkersPage(BaseModel):
    workers: list[_Worker]
    queues: list[_Queue]
    staleAfter: float


def _scene(store: Store, runner: JobRunner | None) -> Scene:
    rules = rules_of(runner.types) if runner is not None else {}
    grace = runner.abort_grace if runner is not None else None
    return Scene(store.get_workers(), time.time(), store.stale_after, abort_grace=grace, rules=rules)


def workers_page(store: Store, runner: JobRunner | None) -> dict[str, Any]:
    """The answer of ``GET /workers`` (sync: the two store reads)."""
    scene = _scene(store, runner)
    active = store.get_active_jobs(messages=False)
    now = scene.now
    workers = []
    for worker in scene.workers:
        row = worker.to_dict()
        row.update(live=worker.live(now, store.stale_after), busy=bool(worker.jobs),
                   heartbeatAge=worker.heartbeat_age(now))
        workers.append(row)
    return {"workers": workers, "queues": [q.to_dict() for q in scene.queues(active)],
            "staleAfter": store.stale_after}


def build_workers_routes(deck: Deck) -> Routes:
    """``/workers``, bound to ``deck``."""
    routes = Routes()
    store = deck.store
    authenticate = deck.auth.authenticate

    @routes.get("/workers", responses={200: {"model": WorkersPage}, **AUTH_ERRORS},
                summary="The processes that run jobs (live or gone, busy or idle) and each job type's queue")
    async def workers(request: Request) -> Response:
        await authenticate(request)
        return json_response(await deck.call(workers_page, store, deck.runner))

    return routes


class CockpitCollector:
    """``jobdeck_workers``, ``jobdeck_queue_oldest_wait_seconds`` and ``jobdeck_jobs_stalled``, read from the store
    at scrape time (registered beside :class:`~jobdeck.api._metrics.JobMetrics`'s own; ``failed`` counts a store
    error)."""

    def __init__(self, store: Store, runner: JobRunner | None, failed: Callable[[], None]) -> None:
        self.store, self.runner, self.failed = store, runner, failed

    def describe(self) -> list[Any]:
        return []  # computed at collect time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily as gauge

        try:
            scene = _scene(self.store, self.runner)
            active = self.store.get_active_jobs(messages=False)
        except (JobdeckError, OSError):
            logger.warning("could not read the workers for /metrics", exc_info=True)
            self.failed()
            return
        workers = gauge("jobdeck_workers", "Live workers (processes that run jobs) by executor (store-wide)",
                             labels=["executor"])
        live: dict[str, int] = {}
        for worker in scene.live:
            live[worker.executor] = live.get(worker.executor, 0) + 1
        for executor, n in sorted(live.items()):
            workers.add_metric([executor], n)
        yield workers
        oldest = gauge("jobdeck_queue_oldest_wait_seconds",
                            "How long the oldest queued job of each type has waited (store-wide)", labels=["job_type"])
        for queue in scene.queues(active):
            oldest.add_metric([queue.job_type], queue.oldest_wait or 0.0)
        yield oldest
        stalled = gauge("jobdeck_jobs_stalled", "Running jobs diagnosed stalled: no progress and no message "
                             "for their type's stall_after while heartbeats go on (store-wide)", labels=["job_type"])
        counts: dict[str, int] = {}
        for job in active:
            if scene.stalled(job):
                counts[job.job_type] = counts.get(job.job_type, 0) + 1
        for job_type, n in sorted(counts.items()):
            stalled.add_metric([job_type], n)
        yield stalled
