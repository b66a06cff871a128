"""The SQLite store's search and id-prefix lookup as SQL (see stores/_search.py for what a match is).

An id prefix is a range scan on the primary key. A search of past jobs first asks the index of the searched text
(:mod:`._sqlite_words`) which jobs may match: when a word of 3 or more characters is in at most
``MAX_CANDIDATES`` jobs, only those are read and checked (the cost of what is found, whatever the history).
Otherwise -- short words, or words in many jobs, whose matches are dense -- it scans the ``jobs`` table newest
ended first and, for a word that the id, author and params do not match, probes the job's messages through their
``(job_id, kind, seq)`` index: the cost grows with the jobs passed before the page is full. Active jobs (few) are
always scanned. ``LIKE`` ignores case for ASCII letters only; params are matched as their
stored JSON text.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..core.jsoncodec import dumps_text
from ..core.model import JobInfo
from ._search import SearchQuery
from ._sqlite_schema import HEAD_COLUMNS
from ._sqlite_words import candidates
from ._stored import job_from_row

__all__ = ["filters", "find_ids", "search"]

_HEAD = ", ".join(f"j.{c.strip()}" for c in HEAD_COLUMNS.split(","))


def find_ids(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    # Ids are lower-case hex and hyphens, so every id with the prefix sorts between it and prefix + "~".
    rows = conn.execute("SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                        (prefix, prefix + "~", limit))
    return [r[0] for r in rows]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(conn: sqlite3.Connection, query: SearchQuery) -> list[JobInfo]:
    out: list[JobInfo] = []
    if query.wants_active():
        out += _select(conn, query, "j.end_time IS NULL", [], "j.start_time DESC, j.id DESC", limit=None)
    if query.wants_past():
        where, args = "j.end_time IS NOT NULL", []
        if query.before is not None:
            where += " AND (j.end_time, j.id) < (?, ?)"
            args += [query.before.end_time, query.before.id]
        among = candidates(conn, query.words) if query.words else None
        if among is None:
            out += _select(conn, query, where, args, "j.end_time DESC, j.id DESC", limit=query.limit)
        else:
            out += _select_among(conn, query, among, where, args)
    return out


def _select_among(conn: sqlite3.Connection, query: SearchQuery, ids: list[str], part: str,
                  part_args: list[Any]) -> list[JobInfo]:
    """The page from the candidates the word index gave (_sqlite_words), each checked with the same conditions as
    the scan. CROSS JOIN: SQLite reads the candidates first and each job by its key, rather than the past list."""
    where, args = filters(query, part, part_args)
    sql = (f"SELECT {_HEAD} FROM json_each(?) c CROSS JOIN jobs j ON j.id = c.value "  # noqa: S608 - bound values
           f"WHERE {' AND '.join(where)} ORDER BY j.end_time DESC, j.id DESC LIMIT ?")
    return [job_from_row(r) for r in conn.execute(sql, [dumps_text(ids), *args, query.limit])]


def _select(conn: sqlite3.Connection, query: SearchQuery, part: str, part_args: list[Any], order: str, *,
            limit: int | None) -> list[JobInfo]:
    where, args = filters(query, part, part_args)
    sql = f"SELECT {_HEAD} FROM jobs j WHERE {' AND '.join(where)} ORDER BY {order}"  # noqa: S608 - bound values
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [job_from_row(r) for r in conn.execute(sql, args)]


def filters(query: SearchQuery, part: str = "1", part_args: list[Any] | None = None) -> tuple[list[str], list[Any]]:
    """The conditions (on ``jobs j``) and their values that a job meets when it matches ``query``'s words and
    filters, and ``part``."""
    where: list[str] = [part]
    args: list[Any] = list(part_args or [])
    if query.job_type is not None:
        where.append("j.job_type = ?")
        args.append(query.job_type)
    if query.schedule_id is not None:
        where.append("j.schedule_id = ?")
        args.append(query.schedule_id)
    if query.signature is not None:
        where.append("j.signature = ?")
        args.append(query.signature)
    if query.statuses is not None:
        where.append(f"j.status IN ({','.join('?' * len(query.statuses))})")
        args += sorted(s.value for s in query.statuses)
    for word in query.words:
        pattern = _like(word)
        where.append("(substr(j.id, 1, ?) = ? OR j.author LIKE ? ESCAPE '\\' OR j.params LIKE ? ESCAPE '\\' "
                     "OR EXISTS (SELECT 1 FROM messages m WHERE m.job_id = j.id AND m.text LIKE ? ESCAPE '\\'))")
        args += [len(word), word, pattern, pattern, pattern]
    return where, args
