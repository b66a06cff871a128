"""What every client subcommand shares: exit codes, connection options, the client, the error line.

Exit codes (documented in docs/cli.md):

    0   success; for ``watch ID`` and ``start --wait``: the job completed
    1   the watched job failed
    2   the watched job was aborted
    3   cannot reach the server (refused, timed out, bad URL)
    4   authentication: no token (401) or a wrong one (403)
    5   not found: unknown job id or job type (404)
    6   conflict: job already finished, or its type runs its maximum of jobs (409)
    7   bad input: a usage error, or the server refused the request (400, 422)
    8   any other server error
    130 interrupted (Ctrl-C) while following one job; the job itself keeps running
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from typing import Any, NoReturn

from ..client import DEFAULT_URL, Client
from ..core.errors import ClientError
from ..core.i18n import DEFAULT_LOCALE
from ..core.model import JobStatus
from ._lang import cli_lang, t

__all__ = [
    "ArgumentParser",
    "ExitCode",
    "add_connection_options",
    "error_line",
    "exit_code_for",
    "make_client",
    "outcome_code",
    "resolve_job_id",
]


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    ABORTED = 2
    UNREACHABLE = 3
    AUTH = 4
    NOT_FOUND = 5
    CONFLICT = 6
    BAD_INPUT = 7
    SERVER = 8
    INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line usage errors and their own exit code (argparse's 2 means "aborted" here)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(t("cli.error.usage", prog=self.prog, message=message) + "\n")
        raise SystemExit(ExitCode.BAD_INPUT)


def add_connection_options(parser: argparse.ArgumentParser, dest_prefix: str = "") -> None:
    """``--url``, ``--token`` and ``--timeout``, defaulting to ``JOBDECK_URL`` / ``JOBDECK_TOKEN``.

    The top-level parser takes them too (``jobdeck --url U list``) under prefixed names, so that they cannot
    collide with options of ``serve`` that share a spelling.
    """
    group = parser.add_argument_group("connection")
    group.add_argument("--url", metavar="URL", dest=f"{dest_prefix}url",
                       help=f"jobdeck server root (default: $JOBDECK_URL or {DEFAULT_URL})")
    group.add_argument("--token", metavar="TOKEN", dest=f"{dest_prefix}token",
                       help="API token (default: $JOBDECK_TOKEN); prefer the variable, argv is visible to others")
    group.add_argument("--timeout", metavar="SECONDS", type=float, dest=f"{dest_prefix}timeout",
                       help="connect and request timeout in seconds (default: 10)")


def make_client(args: argparse.Namespace) -> Client:
    def option(name: str) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else getattr(args, f"global_{name}", None)

    url = option("url") or os.environ.get("JOBDECK_URL") or DEFAULT_URL
    token = option("token") or os.environ.get("JOBDECK_TOKEN") or None
    timeout = option("timeout")
    if timeout is not None and timeout <= 0:
        raise ClientError(t("cli.error.timeout", timeout=f"{timeout:g}"), 400)
    prefix = os.environ.get("JOBDECK_PREFIX") or "/api/admin/jobs"
    # Job-type titles in the CLI's language for people; --json prints the API's default (English) answer.
    language = None if getattr(args, "json", False) or cli_lang() == DEFAULT_LOCALE else cli_lang()
    return Client(url, token=token, timeout=10.0 if timeout is None else timeout, prefix=prefix, language=language)


_BY_STATUS = {
    401: ExitCode.AUTH,
    403: ExitCode.AUTH,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    400: ExitCode.BAD_INPUT,
    405: ExitCode.BAD_INPUT,
    422: ExitCode.BAD_INPUT,
}


def exit_code_for(exc: ClientError) -> ExitCode:
    if exc.status_code is None:
        return ExitCode.UNREACHABLE
    return _BY_STATUS.get(exc.status_code, ExitCode.SERVER)


def error_line(exc: ClientError) -> str:
    """The message for an operator, with the remedy where the server's text cannot know it."""
    text = str(exc)  # the server's (or the client's) own words
    if exc.status_code == 401:
        text += "; " + t("cli.error.no_token")
    elif exc.status_code == 403:
        text += "; " + t("cli.error.wrong_token")
    return text


def resolve_job_id(client: Client, raw: str) -> str:
    """A full id for what the user typed: a full id, or a unique prefix of at least 6 characters."""
    return client.resolve_id(raw)


def outcome_code(status: JobStatus) -> ExitCode:
    """0 completed, 1 failed, 2 aborted (an active job has no outcome yet: OK)."""
    if status is JobStatus.FAILED:
        return ExitCode.FAILED
    if status is JobStatus.ABORTED:
        return ExitCode.ABORTED
    return ExitCode.OK
