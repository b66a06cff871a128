"""``jobdeck list | show | start | abort | types | stats``: thin wrappers over :class:`jobdeck.Client` calls."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from rich.table import Table
from rich.text import Text

from ..client import Client
from ..core.errors import InvalidArgumentError
from ..core.i18n import DEFAULT_LOCALE
from ..core.model import ACTIVE, TERMINAL, JobInfo, JobStatus
from . import _output as output
from ._common import ExitCode, add_connection_options, make_client, resolve_job_id
from ._lang import cli_lang, t

__all__ = ["author_of", "params_of", "parse_params", "register", "show_started"]

STATUSES = [status.value for status in JobStatus]
# The counts ``stats`` names in words (others, added by a newer server, print by their API name).
_STATS_WORDS = {**{status: f"cli.status.{status}" for status in STATUSES}, "active": "cli.stats.active",
                "staleAfter": "cli.stats.stale_after"}
T = TypeVar("T")


def register(sub: Any) -> None:
    """Add the client subcommands to the ``jobdeck`` parser."""
    p = sub.add_parser("list", help="list active jobs (or past ones with --past)",
                       description="List active jobs, or past (finished) jobs with --past, newest first.")
    p.add_argument("--past", action="store_true", help="list finished jobs instead of active ones")
    p.add_argument("--type", metavar="TYPE", dest="job_type", help="only jobs of this job type")
    p.add_argument("--status", metavar="STATUS", action="append", choices=STATUSES,
                   help=f"only jobs with this status; repeatable ({', '.join(STATUSES)})")
    p.add_argument("--limit", metavar="N", type=int,
                   help="at most N past jobs (newest first); when more remain, the command to see the next N is "
                        "printed on stderr")
    p.add_argument("--before", metavar="CURSOR",
                   help="with --past --limit: continue after this cursor (printed by the previous page)")
    p.add_argument("--json", action="store_true", help="print the jobs as JSON (the API's job shape)")
    add_connection_options(p)
    p.set_defaults(func=cmd_list, parser=p)

    p = sub.add_parser("show", help="show one job with its messages",
                       description="Show one job (active or past): its fields and its messages, oldest first.")
    p.add_argument("job_id", metavar="ID", help="the job id")
    p.add_argument("--last", metavar="N", type=int, help="only the newest N messages of each kind")
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_show, parser=p)

    p = sub.add_parser("start", help="start a job",
                       description="Start a job of a registered type and print its id. Parameter values are "
                                   "read as JSON when they parse (--param n=3 is a number), else as strings.")
    p.add_argument("job_type", metavar="TYPE", help="a registered job type (see 'jobdeck types')")
    p.add_argument("--param", "-p", metavar="KEY=VALUE", action="append", default=[],
                   help="a parameter; repeatable; VALUE is JSON if it parses, else a string")
    p.add_argument("--params-json", metavar="JSON", help="all parameters as one JSON object (--param wins)")
    p.add_argument("--author", help="who starts the job (default: $JOBDECK_AUTHOR or your user name)")
    p.add_argument("--at", metavar="TIME", dest="run_at",
                   help="start it at TIME (ISO 8601, e.g. 2026-12-24T02:00+02:00; without an offset, local time): "
                        "the job waits queued until then")
    p.add_argument("--wait", action="store_true",
                   help="follow the job until it ends; exit 0 completed, 1 failed, 2 aborted")
    p.add_argument("--json", action="store_true", help="print the started job as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_start, parser=p)

    p = sub.add_parser("abort", help="ask a job (or all active jobs) to abort",
                       description="Ask one job, or every active job with --all, to abort. Abort is "
                                   "cooperative: the job stops at its next check and ends 'aborted'.")
    p.add_argument("job_id", metavar="ID", nargs="?", help="the job id")
    p.add_argument("--all", action="store_true", dest="all_jobs", help="abort every active job")
    p.add_argument("--reason", help="why; shown with the job")
    p.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_abort, parser=p)

    p = sub.add_parser("types", help="list the registered job types and their parameters",
                       description="List the job types the server can start, with parameter defaults.")
    p.add_argument("--json", action="store_true", help="print the types as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_types, parser=p)

    p = sub.add_parser("stats", help="count jobs by status",
                       description="Count jobs by status (queued, running, aborting, completed, failed, aborted).")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_stats, parser=p)


def cmd_list(args: argparse.Namespace) -> int:
    statuses = args.status or []
    following: str | None = None
    with make_client(args) as client:
        if args.past:
            if any(JobStatus(s) in ACTIVE for s in statuses):
                args.parser.error(t("cli.list.past_statuses"))
            if args.limit is not None:
                if args.limit < 1:
                    args.parser.error(t("cli.list.limit"))
                jobs, following = client.past_chunk(args.job_type, statuses, messages=1, limit=args.limit,
                                                    before=args.before)
            elif args.before:
                args.parser.error(t("cli.list.before_needs_limit"))
            else:
                jobs = client.past(args.job_type, statuses=statuses, messages=1)  # the newest error: its line
        else:
            if args.before:
                args.parser.error(t("cli.list.before_needs_past"))
            if any(JobStatus(s) not in ACTIVE for s in statuses):
                args.parser.error(t("cli.list.active_statuses"))
            jobs = client.active(args.job_type, messages=0)
            if statuses:
                jobs = [job for job in jobs if job.status.value in statuses]
    if args.json:
        output.print_json([job.to_dict(messages=0) for job in jobs])
    elif not jobs:
        print(t("cli.list.none_past") if args.past else t("cli.list.none_active"))
    else:
        output.console().print(output.jobs_table(jobs, past=args.past))
    if following:
        print(t("cli.list.more", command=_next_page_command(args, following)), file=sys.stderr)
    return ExitCode.OK


def _next_page_command(args: argparse.Namespace, cursor: str) -> str:
    parts = ["jobdeck list --past"]
    if args.job_type:
        parts.append(f"--type {shlex.quote(args.job_type)}")
    parts += [f"--status {s}" for s in args.status or []]
    parts.append(f"--limit {args.limit} --before {shlex.quote(cursor)}")
    return " ".join(parts)


def cmd_show(args: argparse.Namespace) -> int:
    if args.last is not None and args.last < 0:
        args.parser.error(t("cli.show.last"))
    with make_client(args) as client:
        job = client.job(resolve_job_id(client, args.job_id), messages=args.last)
    if args.json:
        output.print_json(job.to_dict())
    else:
        output.console().print(output.job_details(job, newest=args.last))
    return ExitCode.OK


def parse_params(pairs: list[str], params_json: str | None) -> dict[str, Any]:
    """``--params-json`` then each ``KEY=VALUE`` on top; ValueError says which argument is wrong."""
    params: dict[str, Any] = {}
    if params_json is not None:
        try:
            loaded = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(t("cli.start.params_json_invalid", error=exc)) from None
        if not isinstance(loaded, dict):
            raise InvalidArgumentError(t("cli.start.params_json_object", kind=type(loaded).__name__))
        params.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidArgumentError(t("cli.start.param_pair", given=repr(pair)))
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw  # not JSON: the plain string, so --param name=alice needs no quotes
    return params


def params_of(args: argparse.Namespace, params_json: str | None = None) -> dict[str, Any]:
    """:func:`parse_params` of ``--param`` (and ``--params-json``); a usage error (exit 7) when one is wrong."""
    parser: argparse.ArgumentParser = args.parser
    try:
        return parse_params(args.param, params_json)
    except ValueError as exc:
        parser.error(str(exc))


def author_of(args: argparse.Namespace) -> str | None:
    """``--author``, else ``$JOBDECK_AUTHOR``, else the user name (None when this uid has none)."""
    author = args.author or os.environ.get("JOBDECK_AUTHOR")
    if author:
        return str(author)
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        return None


def show_started(client: Client, job: JobInfo, args: argparse.Namespace) -> int:
    """Print a job ``start`` or ``rerun`` started (its id, or the job with ``--json``); with ``--wait`` follow it
    to its end and return the job's exit code."""
    if args.json:
        output.print_json(job.to_dict())
    else:
        print(job.id, flush=True)
    if not args.wait:
        return ExitCode.OK
    from ._watch import follow_job

    return follow_job(client, job.id)


def run_at_of(args: argparse.Namespace) -> datetime | None:
    """``--at TIME`` as an aware datetime (a time without an offset is this machine's local time); a usage error
    (exit 7) when it is not an ISO 8601 time."""
    if not args.run_at:
        return None
    try:
        when = datetime.fromisoformat(args.run_at.strip().replace("Z", "+00:00"))
    except ValueError:
        args.parser.error(t("cli.start.at", given=repr(args.run_at)))
    return when if when.tzinfo is not None else when.astimezone()


def cmd_start(args: argparse.Namespace) -> int:
    params = params_of(args, args.params_json)
    run_at = run_at_of(args)
    with make_client(args) as client:
        job = client.start(args.job_type, params=params, author=author_of(args), run_at=run_at)
        return show_started(client, job, args)


def _answer(args: argparse.Namespace, call: Callable[[Client], T]) -> T | None:
    """The server's answer to ``call``; with ``--json`` it is printed as it is and None returned (done)."""
    with make_client(args) as client:
        answer = call(client)
    if args.json:
        output.print_json(answer)
        return None
    return answer


def cmd_abort(args: argparse.Namespace) -> int:
    if args.all_jobs == (args.job_id is not None):
        args.parser.error(t("cli.abort.id_or_all"))
    answer = _answer(args, lambda client: client.abort_all(args.reason) if args.all_jobs else
                     client.abort(resolve_job_id(client, args.job_id), args.reason))
    if answer is None:
        return ExitCode.OK
    print(_abort_words(answer))
    for job_id in answer.get("abortRequestedJobIds") or []:
        print(f"  {job_id}")
    return ExitCode.OK


def _abort_words(answer: dict[str, Any]) -> str:
    """What an abort did: in English the server's own sentence (as this command always printed it); in another
    language the same said from the answer's fields."""
    if cli_lang() == DEFAULT_LOCALE:
        return str(answer.get("message") or t("cli.abort.requested"))
    if "abortRequestedFor" in answer:
        return t("cli.abort.all", requested=answer["abortRequestedFor"], targeted=answer.get("targetedJobs", "?"))
    if "jobId" not in answer:
        return t("cli.abort.requested")
    status = answer.get("status")
    if status in _ENDED:  # it ended before the request came: nothing to abort
        return t("cli.abort.already_ended", id=answer["jobId"], status=output.status_word(JobStatus(status)))
    return t("cli.abort.requested_job", id=answer["jobId"])


_ENDED = {status.value for status in TERMINAL if status is not JobStatus.ABORTED}


def cmd_types(args: argparse.Namespace) -> int:
    types = _answer(args, Client.types)
    if types is None:
        return ExitCode.OK
    if not types:
        print(t("cli.types.none"))
        return ExitCode.OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("type", "title", "max", "timeout", "params", "active"):
        table.add_column(t(f"cli.column.{name}"), no_wrap=name != "params")
    for spec in types:
        timeout = spec.get("timeout")
        table.add_row(
            Text(str(spec.get("jobType", ""))),
            Text(str(spec.get("title", ""))),
            Text(str(spec.get("maxConcurrent", ""))),
            Text("-" if timeout is None else output.format_duration(float(timeout))),
            Text(" ".join(f"{k}={json.dumps(v)}" for k, v in (spec.get("params") or {}).items())),
            Text(str(len(spec.get("activeJobIds") or []))),
        )
    output.console().print(table)
    return ExitCode.OK


def cmd_stats(args: argparse.Namespace) -> int:
    stats = _answer(args, Client.stats)
    if stats is None:
        return ExitCode.OK
    words = {key: t(_STATS_WORDS[key]) if key in _STATS_WORDS else str(key) for key in stats}
    width = max((len(word) for word in words.values()), default=0)
    for key, value in stats.items():
        sys.stdout.write(f"{words[key]:<{width}}  {value}\n")
    return ExitCode.OK
