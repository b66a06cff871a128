"""Job types for the multi-process recovery tests, loaded by ``jobdeck serve`` and ``jobdeck worker`` as
``tests.recovery_app:build``: each run of a handler appends ``job attempt pid`` to a ledger file (one line, opened
with O_APPEND, so that runs in several processes never mix), then asks to be retried while it has failures left."""

from __future__ import annotations

import os
from typing import Any

from jobdeck import JobRunner, PipelineController, Retry, RetryLater, Store


def record(ledger: str, job_id: str, attempt: int) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{job_id} {attempt} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def runs(ledger: str) -> list[tuple[str, int, int]]:
    """Every run the ledger holds: (job id, attempt, pid)."""
    if not os.path.exists(ledger):
        return []
    with open(ledger) as lines:
        return [(job, int(attempt), int(pid)) for job, attempt, pid in (line.split() for line in lines if line.strip())]


def build(store: Store) -> JobRunner:
    runner = JobRunner(store, abort_grace=2)

    @runner.job("Recovering", max_concurrent=20, retry=Retry(attempts=4, backoff=0.2, max_backoff=0.2, jitter=False))
    def recovering(ctl: PipelineController, ledger: str = "", failures: int = 1, later: float = 0.0) -> dict[str, Any]:
        attempt = ctl.store.require_job(ctl.job_id, messages=False).attempt
        ctl.info(f"handler started in pid {os.getpid()}")
        record(ledger, ctl.job_id, attempt)
        ctl.initialize_pipeline(["first", "second"])
        if not ctl.is_done("first"):
            ctl.save("first", attempt)
            ctl.update_operation("first", 1.0)
        if attempt <= failures:
            if later:
                raise RetryLater(later, f"come back in {later:g} s")
            raise ConnectionError(f"provider dropped the connection on attempt {attempt}")
        ctl.update_operation("second", 1.0)
        return {"attempt": attempt, "pid": os.getpid(), "first": ctl.saved("first")}

    return runner
