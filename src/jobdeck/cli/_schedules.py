"""``jobdeck schedules [list | pause ID | resume ID | trigger ID]``: the schedules, and pausing, resuming or running
one now; thin wrappers over :class:`jobdeck.Client`'s schedule calls."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.table import Table
from rich.text import Text

from ..client import ScheduleInfo
from ..core.model import JobStatus, parse_time
from . import _output as output
from ._commands import show_started
from ._common import ExitCode, add_connection_options, make_client
from ._lang import t

__all__ = ["register", "relative_words", "runs_text"]

ACTIONS = ["list", "pause", "resume", "trigger"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "schedules", help="list schedules; pause, resume or trigger one",
        description="List the schedules (jobs that start on their own) with their next and last runs; or pause "
                    "one (no runs until it is resumed), resume it, or trigger it (start its job now, printing "
                    "the job's id). A schedule is named by its id.")
    p.add_argument("action", metavar="ACTION", nargs="?", default="list", choices=ACTIONS,
                   help="list (the default), pause, resume or trigger")
    p.add_argument("schedule_id", metavar="ID", nargs="?", help="the schedule (for pause, resume and trigger)")
    p.add_argument("--wait", action="store_true",
                   help="with trigger: follow the job until it ends; exit 0 completed, 1 failed, 2 aborted")
    p.add_argument("--json", action="store_true",
                   help="print the API's answer as JSON (the schedules, the changed schedule, or the started job)")
    add_connection_options(p)
    p.set_defaults(func=cmd_schedules, parser=p)


def cmd_schedules(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.schedule_id is not None:
            args.parser.error(t("cli.schedules.list_no_id"))
    elif args.schedule_id is None:
        args.parser.error(t("cli.schedules.needs_id", action=args.action))
    if args.wait and args.action != "trigger":
        args.parser.error(t("cli.schedules.wait_trigger"))
    with make_client(args) as client:
        if args.action == "trigger":
            return show_started(client, client.trigger_schedule(args.schedule_id), args)
        if args.action == "list":
            schedules = client.schedules()
            if args.json:
                output.print_json(schedules)
            elif not schedules:
                print(t("cli.schedules.none"))
            else:
                output.console().print(schedules_table(schedules))
            return ExitCode.OK
        if args.action == "pause":
            changed = client.pause_schedule(args.schedule_id)
        else:
            changed = client.resume_schedule(args.schedule_id)
    if args.json:
        output.print_json(changed)
    elif args.action == "pause":
        print(t("cli.schedules.paused_one", id=args.schedule_id))
    else:
        print(t("cli.schedules.resumed_one", id=args.schedule_id, next=_next_run(changed, time.time())))
    return ExitCode.OK


def relative_words(seconds: float) -> str:
    """``in 4 h``, ``in 12 min``, ``in 30 s``, ``5 min ago``: how far a time is, as a person says it."""
    size = abs(seconds)
    if size < 1:
        return t("cli.time.now")
    if size < 60:
        words = t("time.seconds", n=round(size))
    elif size < 3600:
        words = t("time.minutes", n=round(size / 60))
    elif size < 48 * 3600:
        words = t("time.hours", n=round(size / 3600))
    else:
        words = t("time.days", count=round(size / 86400))
    return t("time.ahead", when=words) if seconds > 0 else t("time.ago", when=words)


def _every_words(seconds: float) -> str:
    whole = round(seconds)
    for size, key in ((86400, "cli.schedules.every_days"), (3600, "time.hours"), (60, "time.minutes")):
        if whole >= size and whole % size == 0:
            return t(key, n=whole // size)
    return t("time.seconds", n=f"{seconds:g}")


def runs_text(schedule: ScheduleInfo) -> str:
    """``cron 0 3 * * * (Europe/Helsinki)`` or ``every 15 min``."""
    cron = schedule.get("cron")
    if cron:
        zone = schedule.get("timezone")
        return f"cron {cron}" + (f" ({zone})" if zone else "")
    every = schedule.get("every")
    return t("cli.schedules.every", interval=_every_words(float(every))) if every else "-"


def _when(iso: str | None, now: float) -> str:
    ts = parse_time(iso) if iso else None
    if ts is None:
        return "-"
    return f"{output.format_time(ts)[:16]} ({relative_words(ts - now)})"


def _next_run(schedule: ScheduleInfo, now: float) -> str:
    if schedule.get("paused"):
        return t("cli.schedules.paused")
    runs = schedule.get("nextRuns") or []
    return _when(runs[0], now) if runs else t("cli.schedules.no_next")


def _last_run(schedule: ScheduleInfo, now: float) -> Text:
    last = schedule.get("lastRun")
    if not last:
        return Text("-")
    try:
        status = output.status_text(JobStatus(last.get("status")))
    except ValueError:
        status = Text(str(last.get("status") or "?"))
    text = Text.assemble(status, f" {str(last.get('jobId') or '')[:8]} ")
    ts = parse_time(last["time"]) if last.get("time") else None
    if ts is not None:
        text.append(output.format_time(ts)[5:16])
    return text


def _state(schedule: ScheduleInfo) -> Text:
    paused = bool(schedule.get("paused"))
    text = Text(t("cli.schedules.paused") if paused else t("cli.schedules.active"),
                style="yellow" if paused else "green")
    if schedule.get("source") == "code":
        text.append(" · " + t("cli.schedules.from_code"))
    if schedule.get("missed"):
        text.append(" · " + t("cli.schedules.missed", count=schedule["missed"]), style="yellow")
    if schedule.get("skipped"):
        text.append(" · " + t("cli.schedules.skipped", count=schedule["skipped"]), style="yellow")
    return text


def schedules_table(schedules: list[ScheduleInfo], now: float | None = None) -> Table:
    """One row per schedule: id, type, cadence, next run (local time and how far), last run, state."""
    now = time.time() if now is None else now
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("id", "type", "runs", "next_run", "last_run", "state"):
        table.add_column(t(f"cli.column.{name}"), no_wrap=name in ("id", "next_run"), overflow="fold")
    for s in schedules:
        table.add_row(Text(str(s.get("id", ""))), Text(str(s.get("jobType", ""))), Text(runs_text(s)),
                      Text(_next_run(s, now)), _last_run(s, now), _state(s))
    return table
