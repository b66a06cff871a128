"""``jobdeck failures`` and ``jobdeck bulk ACTION``: failed jobs grouped by cause, and one action for many jobs."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.model import JobStatus
from . import _output as output
from ._common import ExitCode, add_connection_options, make_client
from ._lang import t

__all__ = ["register"]

STATUSES = [status.value for status in JobStatus]
_WHAT = ("abort", "delete", "rerun", "resume")


def register(sub: Any) -> None:
    p = sub.add_parser("failures", help="failed jobs grouped by the cause of their error",
                       description="Failed jobs grouped by signature (the error's type and message with numbers, "
                                   "ids, quoted values and paths normalised away), newest group first: the count, "
                                   "the job types, an example message and the newest ids.")
    p.add_argument("--since", metavar="TIME", help="only jobs that failed after this ISO 8601 time")
    p.add_argument("--type", metavar="TYPE", dest="job_type", help="only jobs of this job type")
    p.add_argument("--limit", metavar="N", type=int, default=50, help="at most N groups (default 50)")
    p.add_argument("--json", action="store_true", help="print the groups as JSON (the API's answer)")
    add_connection_options(p)
    p.set_defaults(func=cmd_failures, parser=p)

    p = sub.add_parser("bulk", help="abort, re-run, resume or delete many jobs at once, as one bulk job",
                       description="One action for the jobs given by --id or matched by the filter (--filter "
                                   "words, --type, --status, --signature), carried out by a bulk job on the "
                                   "server (type jobdeck.bulk; follow it with 'jobdeck watch ID'). --dry-run prints "
                                   "how many jobs it would act on, and the first ids, and does nothing. Delete acts "
                                   "on finished jobs only; re-runs wait for their type's free slots.")
    p.add_argument("action", choices=_WHAT, help="what to do with each job")
    p.add_argument("--id", metavar="ID", action="append", dest="ids", help="a job to act on; repeatable")
    p.add_argument("--filter", metavar="TEXT", dest="text", help="words each job must match, as in 'jobdeck search'")
    p.add_argument("--type", metavar="TYPE", dest="job_type", help="only jobs of this job type")
    p.add_argument("--status", metavar="STATUS", action="append", choices=STATUSES,
                   help=f"only jobs with this status; repeatable ({', '.join(STATUSES)})")
    p.add_argument("--signature", metavar="SIG", help="only failed jobs with this signature ('jobdeck failures')")
    p.add_argument("--dry-run", action="store_true", help="print the count and the first ids; act on nothing")
    p.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    add_connection_options(p)
    p.set_defaults(func=cmd_bulk, parser=p)


def cmd_failures(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 500:
        args.parser.error(t("cli.failures.limit"))
    with make_client(args) as client:
        groups = client.failures(args.since, args.job_type, limit=args.limit)
    if args.json:
        output.print_json(groups)
        return ExitCode.OK
    if not groups:
        print(t("cli.failures.none"))
    for group in groups:
        print(f"{group['count']:>6}  {group['signature']}")
        print(f"        {', '.join(group['jobTypes'])}; {group['firstSeen']} .. {group['lastSeen']}")
        if group.get("message"):
            print("        " + t("cli.failures.example", message=group["message"].splitlines()[0][:200]))
        print("        " + t("cli.failures.newest", ids=" ".join(i[:8] for i in group["jobIds"][:5])))
    return ExitCode.OK


def cmd_bulk(args: argparse.Namespace) -> int:
    wanted = {key: value for key, value in (("q", args.text), ("jobType", args.job_type),
                                            ("status", args.status), ("signature", args.signature)) if value}
    if args.ids and wanted:
        args.parser.error(t("cli.bulk.ids_or_filter"))
    if not args.ids and not wanted:
        args.parser.error(t("cli.bulk.give_jobs"))
    with make_client(args) as client:
        answer = client.bulk(args.action, ids=args.ids, filter=None if args.ids else wanted, dry_run=args.dry_run)
    if args.json:
        output.print_json(answer)
    elif args.dry_run:
        print(t(f"cli.bulk.would_{args.action}", count=answer["count"])
              + (" " + t("cli.bulk.left_out_count", count=answer["leftOut"]) if answer["leftOut"] else ""))
        for job_id in answer["ids"]:
            print(f"  {job_id}")
        for item in answer["leftOutSample"]:
            print("  " + t("cli.bulk.left_out", id=item["id"], why=item["why"]))  # why: the server's words
    else:
        print(answer["jobId"])
        print(t("cli.bulk.started", action=args.action, count=answer["count"], id=answer["jobId"][:8]), flush=True)
    return ExitCode.OK
