"""Job types of the recovery benchmark's engine rows (``jobdeck serve``/``worker --app
benchmarks.recovery_jobs:build``): each handler appends ``<time.time()>`` to the file its ``marker`` param names,
the moment it runs, so that latency is measured by the handler's own clock in whichever worker ran it.

- ``bench-probe``: one line, then done (a fresh dispatch: the baseline).
- ``bench-retry``: one line per attempt; the first attempt raises ``RetryLater(delay)``, the second completes.
"""

from __future__ import annotations

from typing import Any

from .procrastinate_jobs import _append

PROBE = "bench-probe"
RETRY = "bench-retry"


def build(store: Any) -> Any:
    from jobdeck import JobRunner, Retry, RetryLater

    runner = JobRunner(store)

    @runner.job(PROBE, max_concurrent=100_000, params={"marker": ""})
    def probe(ctl: Any, marker: str) -> None:
        _append(marker)

    @runner.job(RETRY, max_concurrent=100_000, params={"marker": "", "delay": 0.5},
                retry=Retry(attempts=2, backoff=1, jitter=False))
    def retry(ctl: Any, marker: str, delay: float) -> None:
        _append(marker)
        if ctl.saved("failed") is None:
            ctl.save("failed", True)
            raise RetryLater(delay, "benchmark: try again shortly")

    return runner
