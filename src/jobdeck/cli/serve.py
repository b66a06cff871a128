"""``jobdeck serve``: the API and dashboard under uvicorn (placeholder until the server lands)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("serve", help="run the HTTP API and dashboard")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise SystemExit("jobdeck serve: not implemented yet")
