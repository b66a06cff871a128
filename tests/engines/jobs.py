"""Job types for the engine tests, loaded by ``jobdeck serve`` and ``jobdeck worker`` as ``tests.engines.jobs:build``.

Each handler says where it runs (``handler started in pid N``) before anything else, so that a test can tell
whether a handler ran at all and in which process.
"""

from __future__ import annotations

import os
import time
from typing import Any

from jobdeck import JobRunner, PipelineController, Retry, RetryLater, Store


def _work(ctl: PipelineController, seconds: float, check: bool) -> dict[str, Any]:
    ctl.info(f"handler started in pid {os.getpid()}")
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        if check:
            ctl.check_abort()
        ctl.progress(min(1.0, elapsed / seconds))
        time.sleep(0.05)
    ctl.info("handler done")
    return {"pid": os.getpid()}


def build(store: Store) -> JobRunner:
    runner = JobRunner(store, abort_grace=5)

    @runner.job("Long", max_concurrent=1)
    def long(ctl: PipelineController, seconds: float = 60.0) -> dict[str, Any]:
        return _work(ctl, seconds, check=True)

    @runner.job("Parallel", max_concurrent=10)
    def parallel(ctl: PipelineController, seconds: float = 60.0) -> dict[str, Any]:
        return _work(ctl, seconds, check=True)

    @runner.job("Stubborn", max_concurrent=10)
    def stubborn(ctl: PipelineController, seconds: float = 60.0) -> dict[str, Any]:
        return _work(ctl, seconds, check=False)

    @runner.job("Short", max_concurrent=1000)
    def short(ctl: PipelineController) -> int:
        return os.getpid()

    @runner.job("Retried", max_concurrent=1, requeue_on_worker_lost=1)
    def retried(ctl: PipelineController, marker: str = "") -> dict[str, Any]:
        # The first run leaves the marker and runs long (its worker is killed); the next one ends at once.
        first = not os.path.exists(marker)
        if first:
            with open(marker, "w") as out:
                out.write(str(os.getpid()))
        return _work(ctl, 60.0 if first else 0.2, check=True)

    @runner.job("Flaky", max_concurrent=10, retry=Retry(attempts=3, backoff=0.3, jitter=False))
    def flaky(ctl: PipelineController, failures: int = 1, later: float = 0.0) -> dict[str, Any]:
        # Fails its first ``failures`` attempts (a RetryLater of ``later`` seconds when it is set), then completes.
        ctl.info(f"handler started in pid {os.getpid()}")
        attempt = ctl.store.require_job(ctl.job_id, messages=False).attempt
        if not ctl.is_done("fetch"):
            ctl.save("fetched-by", os.getpid())
        ctl.initialize_pipeline(["fetch", "answer"])
        ctl.update_operation("fetch", 1.0)
        if attempt <= failures:
            if later:
                raise RetryLater(later, f"provider asked to come back in {later:g} s")
            raise ConnectionError(f"provider dropped the connection on attempt {attempt}")
        return {"pid": os.getpid(), "attempt": attempt, "fetched_by": ctl.saved("fetched-by")}

    @runner.job("Quiet", max_concurrent=10, stall_after=1.0)
    def quiet(ctl: PipelineController, quiet: float = 3.0, then: float = 60.0) -> dict[str, Any]:
        # Silent (no progress, no message) for ``quiet`` seconds while its worker heartbeats: stalled after 1 s;
        # then it reports again (issue 22's diagnosis clears).
        started = time.monotonic()
        while time.monotonic() - started < quiet:
            ctl.check_abort()
            time.sleep(0.05)
        return _work(ctl, then, check=True)

    @runner.job("Boom", max_concurrent=10)
    def boom(ctl: PipelineController) -> None:
        ctl.info(f"handler started in pid {os.getpid()}")
        raise RuntimeError("exploded on purpose")

    return runner
