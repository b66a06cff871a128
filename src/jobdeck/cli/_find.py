"""``jobdeck search | rerun | resume``: finding jobs across types, running one again, resuming one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.model import JobInfo, JobStatus
from . import _output as output
from ._commands import author_of, params_of, show_started
from ._common import ExitCode, add_connection_options, make_client, resolve_job_id
from ._lang import t

__all__ = ["register"]

STATUSES = [status.value for status in JobStatus]


def register(sub: Any) -> None:
    p = sub.add_parser("search", help="find jobs of every type by id prefix, author, params or message words",
                       description="Find jobs of every type and status: each word of TEXT must match the job's "
                                   "id (a prefix), author, params or one of its messages, ignoring case. Active "
                                   "jobs first, then past ones, newest ended first.")
    p.add_argument("text", metavar="TEXT", nargs="?", default="", help="words to match (none: every job)")
    p.add_argument("--type", metavar="TYPE", dest="job_type", help="only jobs of this job type")
    p.add_argument("--status", metavar="STATUS", action="append", choices=STATUSES,
                   help=f"only jobs with this status; repeatable ({', '.join(STATUSES)})")
    p.add_argument("--limit", metavar="N", type=int, default=20, help="at most N past jobs (default 20)")
    p.add_argument("--json", action="store_true", help="print the matches as JSON (the API's search page)")
    add_connection_options(p)
    p.set_defaults(func=cmd_search, parser=p)

    p = sub.add_parser("rerun", help="start a job again with the same type and params",
                       description="Start a new job with the type and params of job ID (a unique prefix of at "
                                   "least 6 characters will do); --param replaces single params. The new job "
                                   "records which job it re-ran (rerunOf). Prints the new job's id.")
    p.add_argument("job_id", metavar="ID", help="the job to run again (full id or unique prefix)")
    p.add_argument("--param", "-p", metavar="KEY=VALUE", action="append", default=[],
                   help="replace a parameter; repeatable; VALUE is JSON if it parses, else a string")
    p.add_argument("--author", help="who starts the job (default: $JOBDECK_AUTHOR or your user name)")
    p.add_argument("--wait", action="store_true",
                   help="follow the new job until it ends; exit 0 completed, 1 failed, 2 aborted")
    p.add_argument("--json", action="store_true", help="print the new job as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_rerun, parser=p)

    p = sub.add_parser("resume", help="resume a failed or aborted job from where it stopped",
                       description="Start a new job with the type and params of the failed or aborted job ID (a "
                                   "unique prefix of at least 6 characters will do) that takes over its saved "
                                   "values and done operations, so that it does again only what was not done. The "
                                   "new job records which job it resumed (resumedFrom); the old one stays as it "
                                   "was. Prints the new job's id.")
    p.add_argument("job_id", metavar="ID", help="the failed or aborted job to resume (full id or unique prefix)")
    p.add_argument("--author", help="who resumes the job (default: $JOBDECK_AUTHOR or your user name)")
    p.add_argument("--wait", action="store_true",
                   help="follow the new job until it ends; exit 0 completed, 1 failed, 2 aborted")
    p.add_argument("--json", action="store_true", help="print the new job as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_resume, parser=p)


def cmd_search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        args.parser.error(t("cli.list.limit"))
    with make_client(args) as client:
        page = client.search(args.text or None, job_type=args.job_type, statuses=args.status or [],
                             limit=args.limit)
    if args.json:
        output.print_json(page)
        return ExitCode.OK
    jobs = [JobInfo.from_dict(item) for item in page["jobs"]]
    errors = {item["id"]: item.get("lastError") or "" for item in page["jobs"]}
    if not jobs:
        print(t("cli.search.none"))
    else:
        output.console().print(output.jobs_table(jobs, past=True, errors=errors))
    if page.get("next"):
        print(t("cli.search.more", limit=args.limit), file=sys.stderr)
    return ExitCode.OK


def cmd_rerun(args: argparse.Namespace) -> int:
    params = params_of(args)
    with make_client(args) as client:
        job_id = resolve_job_id(client, args.job_id)
        return show_started(client, client.rerun(job_id, params=params or None, author=author_of(args)), args)


def cmd_resume(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        job_id = resolve_job_id(client, args.job_id)
        answer = client.resume_answer(job_id, author=author_of(args))
        if answer.get("note"):  # the old job left nothing to take over: say so, beside the id scripts read
            print(t("cli.note", note=answer["note"]), file=sys.stderr, flush=True)
        return show_started(client, JobInfo.from_dict(answer), args)
