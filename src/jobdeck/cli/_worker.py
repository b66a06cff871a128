"""``jobdeck worker``: a task engine's own worker, running jobdeck's job types.

    jobdeck worker --demo --store sqlite:///jobs.db --executor celery+redis://127.0.0.1:6379/1
    jobdeck worker --app myproject.jobs:runner --concurrency 8

The job types come from ``--app`` / ``--demo`` exactly as for ``jobdeck serve`` (the server and its workers load
the same app). The store must be the one the server uses. SIGTERM drains: the jobs this worker runs are asked
to abort and end in a terminal state within ``--grace`` seconds; queued jobs stay queued for other workers.

``--metrics-port`` serves the worker's own Prometheus figures (the jobs it claims, completes, fails; see
:mod:`jobdeck.runtime.metrics`) with ``prometheus_client``'s HTTP server, on loopback unless ``--metrics-addr`` says
otherwise: Prometheus scrapes the server and every worker and sums.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..core.errors import JobdeckError
from ..core.urls import redact_url
from ._lang import t
from ._serve import Fatal, add_job_type_options, add_log_level_option, build_runner, configure_logging, settings_from
from .settings import is_loopback

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "worker",
        help="run a task engine's worker for your job types",
        description="Run the worker of the task engine named by --executor (Celery, procrastinate) in this process, "
                    "with the job types of --app or --demo, on the store the server uses. SIGTERM drains: running "
                    "jobs are asked to abort and end within --grace seconds. Options fall back to JOBDECK_STORE, "
                    "JOBDECK_EXECUTOR, JOBDECK_STALE_AFTER, JOBDECK_SHUTDOWN_GRACE, JOBDECK_METRICS_PORT, "
                    "JOBDECK_METRICS_ADDR.",
    )
    add_job_type_options(parser)
    parser.add_argument("--store", metavar="URL", help="the store the server uses: sqlite:///path or redis://...")
    parser.add_argument("--executor", metavar="URL",
                        help="the task engine: celery+redis://host:6379/1, celery+amqp://user:pass@host:5672//, "
                             "procrastinate+postgresql://host/db (default: the --app runner's own)")
    parser.add_argument("--concurrency", type=int, metavar="N", help="jobs run at once by this worker (default 4)")
    parser.add_argument("--grace", type=float, metavar="SECONDS",
                        help="on SIGTERM, how long running jobs get to stop before they are failed (default 10)")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve this worker's Prometheus figures at http://ADDR:PORT/metrics (needs "
                             "jobdeck[metrics]; 0 picks a free port)")
    parser.add_argument("--metrics-addr", metavar="ADDR",
                        help="address the metrics port binds (default 127.0.0.1; the endpoint has no "
                             "authentication: expose it on a private network only)")
    add_log_level_option(parser, "worker")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``jobdeck worker``; returns the exit code."""
    try:
        return _work(args)
    except Fatal as exc:
        print(f"jobdeck worker: {exc}", file=sys.stderr)
        return exc.code


def _work(args: argparse.Namespace) -> int:
    if args.concurrency is not None and args.concurrency < 1:
        raise Fatal(f"--concurrency must be at least 1, got {args.concurrency}", 2)
    settings = settings_from(dict(os.environ), store=args.store, app=args.app, demo=args.demo,
                             demo_speed=args.demo_speed, demo_schedule=args.demo_schedule,
                             stale_after=args.stale_after, executor=args.executor,
                             prices=args.prices,
                             shutdown_grace=args.grace, metrics_port=args.metrics_port,
                             metrics_addr=args.metrics_addr)
    if not settings.app and not settings.demo:
        raise Fatal("no job types: pass --app MODULE:ATTR (the same as the server's) or --demo", 2)
    runner, store_text = build_runner(settings)
    executor = runner.executor
    if executor.runs_in_process:
        raise Fatal("a worker needs a task engine: pass --executor celery+redis://host:6379/1 (or set "
                    "JOBDECK_EXECUTOR), the same as the server's", 2)
    configure_logging(args.log_level)
    metrics = None
    if settings.metrics_port is not None:
        try:
            from ..runtime.metrics import serve_metrics

            metrics = serve_metrics(runner.store, settings.metrics_port, settings.metrics_addr)
        except (ImportError, JobdeckError) as exc:
            runner.store.close()
            raise Fatal(str(exc)) from None
    types = ", ".join(spec.name for spec in runner.types) or t("cli.worker.no_types")
    lines = [f"jobdeck worker {runner.owner}", "  " + t("cli.worker.engine", engine=repr(executor)),
             "  " + t("cli.banner.store", store=redact_url(store_text)), "  " + t("cli.banner.types", types=types)]
    if metrics is not None:
        exposed = "" if is_loopback(settings.metrics_addr) else " " + t("cli.worker.metrics_exposed")
        lines.append("  " + t("cli.worker.metrics", url=metrics.url) + exposed)
    print("\n".join(lines), flush=True)
    try:
        code = executor.run_worker(concurrency=args.concurrency, grace=settings.shutdown_grace,
                                   loglevel=args.log_level.upper())
    except JobdeckError as exc:
        raise Fatal(str(exc)) from None
    finally:
        if metrics is not None:
            metrics.close()
        runner.store.close()
    return code
