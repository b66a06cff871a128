"""The PostgreSQL store's search as SQL (see stores/_search.py for what a match is).

Two statements, each the job list it searches with the words as one more condition: the active jobs (all
matches, newest first) and one page of past jobs. A job matches when no word fails it; a word passes on the id's
prefix, the author or the params' JSON text (``ILIKE``), and only then probes the job's messages through their
``(job_id, kind, seq)`` index.

The page of past jobs comes one of two ways. When a word of 3 or more characters is in at most
``MAX_CANDIDATES`` past jobs -- by the id index and the trigram index of past jobs' text (:mod:`._pg_words`,
where ``pg_trgm`` could be created) -- only those jobs are read, each checked with the same condition (the cost
of what is found, whatever the history: an old job's id prefix, a file name). Otherwise -- short words, words in
many jobs, no index -- the statement reads backwards along the past list's index from the keyset cursor and
stops at ``limit`` matches: dense matches fill the page early; a word found nowhere costs a pass over the
history and its messages, bounded by retention (``max_past_jobs`` x 3 x ``max_messages``).

Messages are not indexed as they are written (the table written the most after the hot one, in batches of
thousands a second: every row would pay for its trigrams); a past job's messages are, once, in its text row.
Full text search (``tsvector``) matches whole words and stems, not the id prefixes and substrings the other
stores match. The statements are never prepared: a generic plan cannot see which words and filters are given.
``ILIKE`` folds case by the database's collation (non-ASCII letters too, unlike SQLite's ``LIKE``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from ..core.model import JobInfo
from ._pg_schema import HEAD
from ._pg_words import CANDIDATES, candidates
from ._search import SearchQuery
from ._spend_total import SpendTotal
from ._stored import job_from_row

if TYPE_CHECKING:
    from ._pg_rows import Statements

__all__ = ["SEARCH_TEMPLATES", "search", "spend_total"]

_FILTERS = ("(%(type)s::text IS NULL OR j.job_type = %(type)s) "
            "AND (%(statuses)s::text[] IS NULL OR j.status = ANY(%(statuses)s)) "
            "AND (%(schedule)s::text IS NULL OR j.schedule_id = %(schedule)s) "
            "AND (%(signature)s::text IS NULL OR j.signature = %(signature)s) ")
# Every word matches: none fails. The id is compared in its own collation ("C"), the rest case-insensitively.
_WORDS = ("AND NOT EXISTS (SELECT 1 FROM unnest(%(words)s::text[], %(patterns)s::text[]) AS w(word, pattern) "
          "WHERE NOT (starts_with(j.id, w.word COLLATE \"C\") OR j.author ILIKE w.pattern "
          "OR j.params ILIKE w.pattern "
          "OR EXISTS (SELECT 1 FROM {messages} m WHERE m.job_id = j.id AND m.text ILIKE w.pattern)))")

SEARCH_TEMPLATES = {
    # Newest first: the active list's order (queued or started, then creation) reversed.
    "search_active": HEAD + " WHERE j.end_time IS NULL AND " + _FILTERS + _WORDS
                     + " ORDER BY COALESCE(j.queued_time, j.start_time) DESC, j.seq DESC",
    "candidates": CANDIDATES,
    "search_past": HEAD + " WHERE j.end_time IS NOT NULL AND " + _FILTERS
                   + "AND (%(b_end)s::float8 IS NULL OR (j.end_time, j.id) < (%(b_end)s, %(b_id)s::text)) "
                   + "AND (%(among)s::text[] IS NULL OR j.id = ANY(%(among)s)) " + _WORDS
                   + " ORDER BY j.end_time DESC, j.id DESC LIMIT %(limit)s",
    # The spend total (stores/_spend_total.py): every matching job, active and past, added up in one pass.
    "spend_total": "SELECT count(*), count(h.usage), "
                   "sum(coalesce((h.usage::jsonb->>'knownCost')::float8, (h.usage::jsonb->>'cost')::float8)), "
                   "count(*) FILTER (WHERE h.usage::jsonb ? 'knownCost'), "
                   "sum((h.usage::jsonb->>'inputTokens')::bigint), sum((h.usage::jsonb->>'outputTokens')::bigint) "
                   "FROM {jobs} j JOIN {hot} h ON h.id = j.id WHERE " + _FILTERS + _WORDS,
}


def _pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def spend_total(conn: psycopg.Connection[Any], q: Statements, query: SearchQuery) -> SpendTotal:
    """What every matching job spent together (no page), in one statement."""
    row = conn.execute(q.spend_total, _args(query), prepare=False).fetchone()
    return SpendTotal.of_row(tuple(row) if row is not None else (0, 0, None, 0, None, None))


def search(conn: psycopg.Connection[Any], q: Statements, query: SearchQuery, *, indexed: bool) -> list[JobInfo]:
    """Matching jobs without messages, in the caller's transaction (one snapshot for both lists); past jobs from
    the candidates of the index of their text when ``indexed`` and a word is rare enough (:mod:`._pg_words`)."""
    args = _args(query)
    if indexed and query.words and query.wants_past():
        args["among"] = candidates(conn, q.candidates, query.words, args["patterns"])
    # Never prepared: a prepared statement's generic plan (chosen after five runs) cannot see which words and
    # filters are given, and walked 6x longer than the plan made for the values (100 ms against 17 at 10,000 jobs).
    active = conn.execute(q.search_active, args, prepare=False) if query.wants_active() else None
    past = conn.execute(q.search_past, args, prepare=False) if query.wants_past() else None  # sent with the first
    rows = (active.fetchall() if active else []) + (past.fetchall() if past else [])
    return [job_from_row(row) for row in rows]


def _args(query: SearchQuery) -> dict[str, Any]:
    return {
        "type": query.job_type, "schedule": query.schedule_id, "signature": query.signature,
        "statuses": sorted(s.value for s in query.statuses) if query.statuses is not None else None,
        "words": list(query.words), "patterns": [_pattern(word) for word in query.words],
        "b_end": query.before.end_time if query.before else None,
        "b_id": query.before.id if query.before else None, "limit": query.limit, "among": None}
