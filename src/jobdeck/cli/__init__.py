"""The ``jobdeck`` command: a thin layer over the library and the HTTP client.

Each subcommand lives in its own module and adds itself with ``register(subparsers)``; errors print one
line (``jobdeck: error: ...``) and exit with a code that says what kind of error it was (see
:mod:`jobdeck.cli._common`), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..core.errors import ClientError, JobdeckError
from ._common import ArgumentParser, ExitCode, add_connection_options, error_line, exit_code_for
from ._lang import t

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="jobdeck", description="Run, watch and stop long-running admin jobs.")
    add_connection_options(parser, dest_prefix="global_")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from . import _bulk, _commands, _db, _find, _schedules, _serve, _watch, _worker, _workers

    _serve.register(sub)
    _worker.register(sub)
    _commands.register(sub)
    _watch.register(sub)
    _find.register(sub)
    _bulk.register(sub)
    _schedules.register(sub)
    _db.register(sub)
    _workers.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ClientError as exc:
        sys.stderr.write(t("cli.error.line", message=error_line(exc)) + "\n")
        return exit_code_for(exc)
    except JobdeckError as exc:
        sys.stderr.write(t("cli.error.line", message=exc) + "\n")
        return ExitCode.SERVER
    except KeyboardInterrupt:
        sys.stderr.write(t("cli.error.interrupted") + "\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and friends: the reader left, which is not an error of ours.
        sys.stderr.close()
        return ExitCode.OK
    return int(result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
