"""``jobdeck db upgrade``: create or upgrade a store's tables, for operators who migrate explicitly.

    jobdeck db upgrade --store postgresql://jobdeck@db.internal/app

``jobdeck serve`` upgrades the schema itself unless started with ``--no-migrate``; this command lets an owner of
the database do it once (for instance when the server's own user may not create tables).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..core.errors import StoreError
from ..stores import upgrade_store
from ._lang import t

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("db", help="create or upgrade a store's database schema",
                            description="Manage the database schema of a store (PostgreSQL; a SQLite file is "
                                        "upgraded whenever it is opened).")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="create jobdeck's tables or bring them up to date",
                            description="Create jobdeck's tables in the store's database, or upgrade them to the "
                                        "version this jobdeck needs. Safe to run while servers are up and from "
                                        "several places at once (an advisory lock serialises upgrades).")
    up.add_argument("--store", metavar="URL", help="the store URL (default: $JOBDECK_STORE)")
    up.set_defaults(func=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace) -> int:
    url = args.store or os.environ.get("JOBDECK_STORE")
    if not url:
        raise StoreError(t("cli.db.no_store"))
    result = upgrade_store(url)
    scheme = url.split("://", 1)[0]
    if result is None:
        print(t("cli.db.nothing_sqlite" if scheme == "sqlite" else "cli.db.nothing", scheme=scheme))
        return 0
    before, after = result
    if before == after:
        print(t("cli.db.up_to_date", version=after))
    else:
        print(t("cli.db.upgraded", before=before, after=after))
    return 0
