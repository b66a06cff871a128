"""The processes of the procrastinate benchmark: jobdeck's job type, and a raw procrastinate worker to compare with.

- ``build(store)``: a runner with ``bench-probe``, whose handler appends ``<time.time()>`` to the file its
  ``marker`` param names, the moment it runs (``jobdeck serve/worker --app benchmarks.procrastinate_jobs:build``),
  and ``bench-ticker``, the executor section's per-call cost of ``progress()`` and ``info()``.
- ``python -m benchmarks.procrastinate_jobs raw-worker DSN``: procrastinate's own worker with one task,
  ``bench.raw_probe(marker)``, doing the same with no jobdeck in between (same concurrency, LISTEN/NOTIFY and
  polling settings as jobdeck's worker).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

PROBE = "bench-probe"
TICKER = "bench-ticker"
RAW_TASK = "bench.raw_probe"
RAW_QUEUE = "bench-raw"


def _append(marker: str) -> None:
    # One small write with O_APPEND: lines of concurrent writers never interleave.
    fd = os.open(marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time():.6f}\n".encode())
    finally:
        os.close(fd)


def build(store: Any) -> Any:
    from jobdeck import JobRunner

    runner = JobRunner(store)

    @runner.job(PROBE, max_concurrent=100_000, params={"marker": ""})
    def probe(ctl: Any, marker: str) -> None:
        _append(marker)

    @runner.job(TICKER, max_concurrent=10, params={"progress": 20_000, "messages": 5_000})
    def ticker(ctl: Any, progress: int, messages: int) -> dict[str, Any]:
        from .executor_jobs import tick

        return tick(ctl, progress, messages)

    return runner


def raw_app(dsn: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name=RAW_TASK, queue=RAW_QUEUE)
    async def raw_probe(marker: str) -> None:
        _append(marker)

    return app


def main(argv: list[str]) -> int:
    if argv[:1] != ["raw-worker"] or len(argv) != 2:
        print("usage: python -m benchmarks.procrastinate_jobs raw-worker DSN", file=sys.stderr)
        return 2
    app = raw_app(argv[1])
    app.run_worker(queues=[RAW_QUEUE], concurrency=1, name=f"raw-{os.getpid()}", listen_notify=True,
                   fetch_job_polling_interval=2.0, abort_job_polling_interval=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
