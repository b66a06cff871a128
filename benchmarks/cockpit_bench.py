"""Section ``cockpit`` (issue 22): what the operator's cockpit costs the lists. This file is shared: the Workers
and diagnoses rows are here; the failure groups and bulk actions have their own file (``failures_bench.py``).

Row: ``GET /active`` of 100 active jobs (``messages=last:3``, the HTTP scenario's jobs) with their diagnoses, beside
the same request with the diagnosis step taken out, on the memory store and on a SQLite file with 8 workers
registered. Each request is served by the real app in-process (token auth, every middleware, as the ``api``
section calls it) with its answer cache told to rebuild every time (``max_age`` 0): what a dashboard's poll pays
after each change. "Without" swaps the route's diagnoser for one that reads no worker and diagnoses nothing;
rounds alternate, so that both see the same load, and each side's best round is kept (the machine is shared).

Target: with diagnoses within 1.3x of without (measured 1.22-1.25x on the memory store, whose list costs ~5 us a
job, and 1.05-1.08x on SQLite, on 2 loaded cores): a diagnosis is about a microsecond per job, made once per
distinct sentence, and the worker registry one read per request whose unchanged records are not decoded again.
What would make it fail: the registry read once per job (100 reads, on SQLite 100 queries), re-serialising each
job to add its diagnosis instead of splicing bytes into its cached form, or a per-job read of anything else.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from .api_overhead import _call, _scope
from .servers import PREFIX, SUMMARY_TYPE, fill_http_scenario
from .table import Row, us

SECTION = "cockpit"
TOKEN = "bench-token-cockpit"
JOBS = 100
WORKERS = 8
PATH = f"{PREFIX}/active?jobType={SUMMARY_TYPE}&messages=last:3"


class _NoDiagnoses:
    """The baseline's diagnoser: no worker read, no diagnosis."""

    scene = None

    def __init__(self, store: Any, runner: Any, lang: str = "en") -> None:
        pass

    def all_json(self, jobs: list[Any]) -> list[None]:
        return [None] * len(jobs)


def _app(url: str) -> tuple[Any, Any]:
    from jobdeck import JobRunner, open_store
    from jobdeck.api import create_app
    from jobdeck.core.workers import RunningRef, WorkerInfo

    store = open_store(url)
    fill_http_scenario(store, JOBS, 0)
    runner = JobRunner(store, reap=False)
    runner.register(SUMMARY_TYPE, lambda ctl: None, max_concurrent=1000)
    active = store.get_active_jobs(SUMMARY_TYPE, messages=False)
    for n in range(WORKERS):
        held = tuple(RunningRef(j.id, j.job_type, time.time() - 60) for j in active[n * 4:(n + 1) * 4])
        store.beat_worker(WorkerInfo(f"bench-{n}:{1000 + n}:abcdef", f"bench-{n}", 1000 + n, "celery",
                                     (SUMMARY_TYPE,), 4, time.time() - 3600, jobs=held))
    app = create_app(runner=runner, token=TOKEN, ui=False)
    app.state.deck.answers.max_age = 0.0  # every request builds its answer: the cost after each change
    return app, runner


async def _per_request(app: Any, scope: dict[str, Any], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        status, _ = await _call(app, scope)
        if status != 200:
            raise RuntimeError(f"/active answered {status}")
    return (time.perf_counter() - started) / n


async def _measure(app: Any, quick: bool) -> tuple[float, float]:
    from jobdeck.api import _reading

    scope = _scope(PATH, TOKEN)
    real = _reading.Diagnoser
    status, body = await _call(app, scope)
    if status != 200 or body.count(b'"diagnosis":') != JOBS:
        raise RuntimeError("the answer does not carry a diagnosis per job")
    n, rounds = (5, 40) if quick else (5, 150)  # many short rounds: the best of each side is less noisy
    plain, diagnosed = [], []
    try:
        for _ in range(rounds):
            _reading.Diagnoser = _NoDiagnoses  # type: ignore[misc,assignment]
            plain.append(await _per_request(app, scope, n))
            _reading.Diagnoser = real  # type: ignore[misc]
            diagnosed.append(await _per_request(app, scope, n))
    finally:
        _reading.Diagnoser = real  # type: ignore[misc]
    return min(diagnosed), min(plain)  # each side's best round: least disturbed by other load


def _row(label: str, url: str, quick: bool) -> Row:
    app, runner = _app(url)
    try:
        cost, base = asyncio.run(_measure(app, quick))
    finally:
        runner.shutdown(grace=1)
        runner.store.close()
    ratio = cost / base
    return Row(SECTION, f"GET /active ({JOBS} jobs, last:3, {WORKERS} workers, answer rebuilt), {label}: with "
                        "diagnoses beside without", us(cost), us(base), f"{ratio:.2f}x", "<= 1.30x", ratio <= 1.30,
               note="fails if the workers are read per job or a job is re-serialised for its diagnosis",
               values={"with": cost, "without": base, "ratio": ratio})


def run(quick: bool = False) -> list[Row]:
    rows = [_row("memory store", "memory://", quick)]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(_row("SQLite file", f"sqlite:///{Path(tmp) / 'cockpit.db'}", quick))
    return rows


if __name__ == "__main__":
    from .table import render

    print(render(run(quick=False)))
