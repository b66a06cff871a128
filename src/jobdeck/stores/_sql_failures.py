"""Failure groups in SQL, for the SQLite and PostgreSQL stores (see :mod:`._failures` for what a group is).

One ``GROUP BY signature, job_type`` over the failed jobs (the partial index ``jobs_failed`` holds exactly those),
folded into groups in Python (a group's job types are its rows), then each shown group's newest ids read backwards
along that index with a ``LIMIT``: a request costs one pass over the failed jobs' index entries and one short
range read per group, not a read of every job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._failures import FailureGroup, FailureQuery, GroupRow, fold_rows

__all__ = ["IDS", "ROWS", "failure_groups"]

_WHERE = ("status = 'failed' AND signature IS NOT NULL AND end_time IS NOT NULL "
          "AND (:since IS NULL OR end_time > :since) AND (:type IS NULL OR job_type = :type)")
# Written with SQLite's named parameters; :func:`postgres` turns them into psycopg's.
ROWS = (f"SELECT signature, job_type, COUNT(*), MIN(end_time), MAX(end_time) FROM {{jobs}} WHERE {_WHERE} "  # noqa: S608 - constant text, values bound
        "GROUP BY signature, job_type")
IDS = (f"SELECT id FROM {{jobs}} WHERE {_WHERE} AND signature = :signature "  # noqa: S608 - constant text, values bound
       "ORDER BY end_time DESC, id DESC LIMIT :n")


def postgres(template: str) -> str:
    """A template above in psycopg's parameter style, with the casts PostgreSQL needs to type a NULL."""
    return (template.replace(":since IS NULL", "%(since)s::float8 IS NULL").replace(":since", "%(since)s")
            .replace(":type IS NULL", "%(type)s::text IS NULL").replace(":type", "%(type)s")
            .replace(":signature", "%(signature)s").replace(":n", "%(n)s"))


def failure_groups(run: Callable[[Any, dict[str, Any]], Iterable[tuple[Any, ...]]], rows: Any, ids: Any,
                   query: FailureQuery) -> list[FailureGroup]:
    """Groups through ``run(statement, args)`` (one connection's execute, in one snapshot)."""
    args: dict[str, Any] = {"since": query.since, "type": query.job_type}
    found: list[GroupRow] = [(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in run(rows, args)]
    groups = fold_rows(found, query.limit)
    if query.ids:
        for group in groups:
            group.job_ids = [r[0] for r in run(ids, {**args, "signature": group.signature, "n": query.ids})]
    return groups
