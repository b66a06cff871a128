"""Failure groups in SQL, for the SQLite and PostgreSQL stores (see :mod:`._failures` for what a group is).

One ``GROUP BY signature, job_type`` over the failed jobs (the partial index ``jobs_failed`` holds exactly those,
with their job type: an index-only scan), folded into groups in Python (a group's job types are its rows), then
each shown group's newest ids read backwards along that index with a ``LIMIT`` (PostgreSQL: all groups in one
``LATERAL`` statement), and the newest job's last error: a request costs one pass over the failed jobs' index
entries and a short range read per group, not a read of every job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._failures import FailureGroup, FailureQuery, GroupRow, fold_rows

Run = Callable[[Any, dict[str, Any]], Iterable[tuple[Any, ...]]]  # a connection's execute

__all__ = ["IDS", "IDS_LATERAL", "ROWS", "Run", "failure_groups", "lateral", "per_group", "postgres"]

_WHERE = ("status = 'failed' AND signature IS NOT NULL AND end_time IS NOT NULL "
          "AND (:since IS NULL OR end_time > :since) AND (:type IS NULL OR job_type = :type)")
# Written with SQLite's named parameters; :func:`postgres` turns them into psycopg's.
ROWS = (f"SELECT signature, job_type, COUNT(*), MIN(end_time), MAX(end_time) FROM {{jobs}} WHERE {_WHERE} "  # noqa: S608 - constant text, values bound
        "GROUP BY signature, job_type")
# One group's newest ids, read backwards along the index.
IDS = f"SELECT id FROM {{jobs}} WHERE {_WHERE} AND signature = :signature ORDER BY end_time DESC, id DESC LIMIT :n"  # noqa: S608
# PostgreSQL: every shown group's newest ids in one round trip, each group a LIMIT along the index.
IDS_LATERAL = ("SELECT s.signature, j.id FROM unnest(:signatures) WITH ORDINALITY AS s(signature, n) "  # noqa: S608
               f"CROSS JOIN LATERAL (SELECT id FROM {{jobs}} WHERE {_WHERE} AND signature = s.signature "
               "ORDER BY end_time DESC, id DESC LIMIT :n) AS j")


def postgres(template: str) -> str:
    """A template above in psycopg's parameter style, with the casts PostgreSQL needs to type a NULL."""
    return (template.replace(":since IS NULL", "%(since)s::float8 IS NULL").replace(":since", "%(since)s")
            .replace(":type IS NULL", "%(type)s::text IS NULL").replace(":type", "%(type)s")
            .replace(":signatures", "%(signatures)s::text[]").replace(":signature", "%(signature)s")
            .replace(":n", "%(n)s"))


def failure_groups(run: Run, rows: Any, query: FailureQuery, newest: Callable[[list[str], dict[str, Any]],
                   dict[str, list[str]]], errors: Callable[[list[str]], dict[str, str]]) -> list[FailureGroup]:
    """Groups through ``run(statement, args)`` (one connection's execute, in one snapshot); ``newest(signatures,
    args)``: each group's newest ids, newest first; ``errors(ids)``: the last error message of each of those jobs
    (each group's example)."""
    args: dict[str, Any] = {"since": query.since, "type": query.job_type}
    found: list[GroupRow] = [(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in run(rows, args)]
    groups = fold_rows(found, query.limit)
    if query.ids and groups:
        ids = newest([group.signature for group in groups], {**args, "n": query.ids})
        for group in groups:
            group.job_ids = ids.get(group.signature, [])
        examples = errors([group.job_ids[0] for group in groups if group.job_ids])
        for group in groups:
            if group.job_ids:
                group.message = examples.get(group.job_ids[0])
    return groups


def per_group(run: Run, ids: Any) -> Callable[[list[str], dict[str, Any]], dict[str, list[str]]]:
    """``newest`` as one short read along the index per group (SQLite: in process, no round trip to save)."""
    def newest(signatures: list[str], args: dict[str, Any]) -> dict[str, list[str]]:
        return {s: [r[0] for r in run(ids, {**args, "signature": s})] for s in signatures}

    return newest


def lateral(run: Run, ids: Any) -> Callable[[list[str], dict[str, Any]], dict[str, list[str]]]:
    """``newest`` in one statement (PostgreSQL: one round trip for every group)."""
    def newest(signatures: list[str], args: dict[str, Any]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for signature, job_id in run(ids, {**args, "signatures": signatures}):
            out.setdefault(signature, []).append(job_id)  # each group's rows come in its LIMIT's order
        return out

    return newest
