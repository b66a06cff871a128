"""The ``jobdeck`` command: a thin layer over the library and the HTTP client.

Each subcommand lives in its own module and adds itself with ``register(subparsers)``; errors print one
line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobdeck", description="Run, watch and stop long-running admin jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from . import serve

    serve.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
