"""``jobdeck workers``: the processes that run jobs and each job type's queue (``GET /workers``, issue 22)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table
from rich.text import Text

from . import _output as output
from ._common import ExitCode, add_connection_options, make_client
from ._lang import t

__all__ = ["cmd_workers", "register"]


def register(sub: Any) -> None:
    p = sub.add_parser("workers", help="list the processes that run jobs and each job type's queue",
                       description="List the processes that run jobs (jobdeck serve with the local executor, every "
                                   "jobdeck worker): live or gone (no heartbeat for the store's stale_after), busy "
                                   "or idle, the jobs each runs; then per job type how many jobs are queued, the "
                                   "oldest wait and how many live workers run it.")
    p.add_argument("--json", action="store_true", help="print the answer of GET /workers as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_workers, parser=p)


def _state(worker: dict[str, Any]) -> Text:
    if not worker.get("live"):
        return Text(t("cli.workers.gone"), style="red")
    return Text(t("cli.workers.busy"), style="yellow") if worker.get("busy") \
        else Text(t("cli.workers.idle"), style="green")


def cmd_workers(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        page = client.workers()
    if args.json:
        output.print_json(page)
        return ExitCode.OK
    console = output.console()
    workers = page.get("workers") or []
    if not workers:
        console.print(t("cli.workers.none"))
    else:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for name in ("worker", "state", "executor", "slots", "heartbeat", "types", "jobs"):
            table.add_column(t(f"cli.column.{name}"), no_wrap=name not in ("types", "jobs"))
        for worker in workers:
            jobs = worker.get("jobs") or []
            slots = worker.get("concurrency")
            table.add_row(Text(str(worker.get("id", ""))), _state(worker), Text(str(worker.get("executor", ""))),
                          Text(f"{len(jobs)}/{slots if slots is not None else '-'}"),
                          Text(t("time.ago", when=output.format_duration(float(worker.get("heartbeatAge") or 0)))),
                          Text(", ".join(worker.get("jobTypes") or [])),
                          Text(" ".join(f"{j['id'][:8]} ({j['jobType']})" for j in jobs)))
        console.print(table)
    queues = page.get("queues") or []
    if queues:
        console.print()
        table = Table(box=None, header_style="bold", pad_edge=False)
        for name in ("type", "queued", "oldest_wait", "live_workers"):
            table.add_column(t(f"cli.column.{name}"), no_wrap=True)
        for queue in queues:
            wait = queue.get("oldestWait")
            table.add_row(Text(str(queue.get("jobType", ""))), Text(str(queue.get("queued", 0))),
                          Text("-" if wait is None else output.format_duration(float(wait))),
                          Text(str(queue.get("liveWorkers", 0)),
                               style="red" if not queue.get("liveWorkers") and queue.get("queued") else ""))
        console.print(table)
    return ExitCode.OK
