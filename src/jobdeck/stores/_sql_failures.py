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

__all__ = ["IDS", "ROWS", "failure_groups", "postgres"]

_WHERE = ("status = 'failed' AND signature IS NOT NULL AND end_time IS NOT NULL "
          "AND (:since IS NULL OR end_time > :since) AND (:type IS NULL OR job_type = :type)")
# Written with SQLite's named parameters; :func:`postgres` turns them into psycopg's.
ROWS = (f"SELECT signature, job_type, COUNT(*), MIN(end_time), MAX(end_time) FROM {{jobs}} WHERE {_WHERE} "  # noqa: S608 - constant text, values bound
        "GROUP BY signature, job_type")
# Every group's newest ids in one statement: numbered per signature along the index, the first :n of each kept.
IDS = ("SELECT signature, id, end_time FROM (SELECT signature, id, end_time, ROW_NUMBER() OVER (PARTITION BY signature "  # noqa: S608
       f"ORDER BY end_time DESC, id DESC) AS rn FROM {{jobs}} WHERE {_WHERE}) AS numbered WHERE rn <= :n")


def postgres(template: str) -> str:
    """A template above in psycopg's parameter style, with the casts PostgreSQL needs to type a NULL."""
    return (template.replace(":since IS NULL", "%(since)s::float8 IS NULL").replace(":since", "%(since)s")
            .replace(":type IS NULL", "%(type)s::text IS NULL").replace(":type", "%(type)s")
            .replace(":signature", "%(signature)s").replace(":n", "%(n)s"))


def failure_groups(run: Callable[[Any, dict[str, Any]], Iterable[tuple[Any, ...]]], rows: Any, ids: Any,
                   query: FailureQuery, errors: Callable[[list[str]], dict[str, str]]) -> list[FailureGroup]:
    """Groups through ``run(statement, args)`` (one connection's execute, in one snapshot); ``errors(ids)``: the
    last error message of each of those jobs (for each group's example)."""
    args: dict[str, Any] = {"since": query.since, "type": query.job_type}
    found: list[GroupRow] = [(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in run(rows, args)]
    groups = fold_rows(found, query.limit)
    if query.ids and groups:
        shown = {group.signature: group for group in groups}
        newest: dict[str, list[tuple[float, str]]] = {}
        for signature, job_id, end in run(ids, {**args, "n": query.ids}):
            if signature in shown:
                newest.setdefault(signature, []).append((float(end), job_id))
        for group in groups:  # the statement promises no order: newest ended first, ties by id, as the past list
            group.job_ids = [job_id for _, job_id in sorted(newest.get(group.signature, []), reverse=True)]
        examples = errors([group.job_ids[0] for group in groups if group.job_ids])
        for group in groups:
            if group.job_ids:
                group.message = examples.get(group.job_ids[0])
    return groups
