"""The SQLite store's index of the text a search matches in past jobs (issue 26): trigrams (FTS5's ``trigram``
tokenizer) of each past job's author, params and messages, so that a search for a rare word -- an id prefix of an
old job, a file name, an error text -- costs what it finds, not a pass over the whole history.

A search word matches a job's id prefix, or its author, params or a message anywhere inside (stores/_search.py).
For a word of 3 or more characters, the index gives a superset of the past jobs whose author, params or messages
contain it (trigram matching folds case for every letter, where ``LIKE`` folds ASCII only; a word spanning two
of the texts joined is a false candidate too); the id-prefix matches come from the id index. :func:`candidates`
collects them for each word; when one word has at most :data:`MAX_CANDIDATES`, the search reads only those jobs
and checks each with the exact conditions it always used (the same answer, order and pages), instead of scanning
the history newest first. A word in more past jobs than that, or shorter than 3 characters, keeps the scan: its
matches are dense, so the scan fills a page early. Active jobs are few and always scanned.

Why past jobs only, and why at their end: a job's text is final when it ends (a finished job takes no more
messages; the ``max_messages`` cap acts only as messages are added), so it is indexed once, by a trigger on the
end, in the ending transaction: one FTS row per job (``past_texts`` holds the joined text under a key of its own,
as the jobs table's rowid may change in a VACUUM), removed with the job. Indexing every message as it is written
was measured and rejected: FTS5 costs 100-300 us per row inserted (tokenizing, and a segment per transaction),
which cut the store's message writes from about 16,000 to 3,000-5,500 a second. The price here is on job ends and
on disk (measured in docs/performance.md's ``history100k`` section). A job's messages are written before its head
in the ending transaction (``SQLiteStore._change``), so that the text includes the error the end adds.
PostgreSQL has its own (see :mod:`._pg_words`).

The ``trigram`` tokenizer needs SQLite 3.34 or newer built with FTS5 (Python's own builds and every current
distribution have it). Where the ``sqlite3`` library lacks it, the schema step makes nothing (:data:`TRIGRAMS`) and
every search scans as it did before the index: slower on a long history, never wrong. A file upgraded that way
stays without the index; one made with it needs the tokenizer wherever it is opened (its triggers write to the
index).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from ..core.jsoncodec import dumps_text

__all__ = ["MAX_CANDIDATES", "MIN_WORD", "SCHEMA_STEP", "TRIGRAMS", "candidates"]


def _trigrams() -> bool:
    try:
        with closing(sqlite3.connect(":memory:")) as conn:
            conn.execute("CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='trigram')")
    except sqlite3.OperationalError:  # no FTS5, or an SQLite older than 3.34
        return False
    return True


# Whether this process's SQLite library can keep the index (FTS5 with the trigram tokenizer).
TRIGRAMS = _trigrams()

MIN_WORD = 3  # a trigram index cannot look up anything shorter
MAX_CANDIDATES = 1_000  # more than this for every word: the scan (dense matches fill a page soon)

_TEXT = ("NEW.author || char(10) || NEW.params || COALESCE((SELECT char(10) || group_concat(text, char(10)) "
         "FROM (SELECT text FROM messages WHERE job_id = NEW.id ORDER BY seq)), '')")
_UNINDEX = ("INSERT INTO past_words (past_words, rowid, text) SELECT 'delete', key, text FROM past_texts "
            "WHERE job_id = OLD.id; DELETE FROM past_texts WHERE job_id = OLD.id;")
_INDEX = (f"INSERT INTO past_texts (job_id, text) VALUES (NEW.id, {_TEXT}); "  # noqa: S608 - constant
          "INSERT INTO past_words (rowid, text) SELECT key, text FROM past_texts WHERE job_id = NEW.id;")

SCHEMA_STEP = [] if not TRIGRAMS else [
    """CREATE TABLE past_texts (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        text TEXT NOT NULL
    )""",
    "CREATE VIRTUAL TABLE past_words USING fts5(text, content='past_texts', content_rowid='key', "
    "tokenize='trigram')",
    # The history so far: once, in the upgrade's transaction.
    "INSERT INTO past_texts (job_id, text) SELECT j.id, j.author || char(10) || j.params || COALESCE((SELECT "
    "char(10) || group_concat(text, char(10)) FROM (SELECT text FROM messages WHERE job_id = j.id ORDER BY seq)), "
    "'') FROM jobs j WHERE j.end_time IS NOT NULL ORDER BY j.end_time, j.id",
    "INSERT INTO past_words (past_words) VALUES ('rebuild')",
    f"CREATE TRIGGER jobs_worded_at_end AFTER UPDATE OF end_time ON jobs "
    f"WHEN OLD.end_time IS NULL AND NEW.end_time IS NOT NULL BEGIN {_INDEX} END",
    f"CREATE TRIGGER jobs_worded_ended AFTER INSERT ON jobs WHEN NEW.end_time IS NOT NULL BEGIN {_INDEX} END",
    f"CREATE TRIGGER jobs_unworded_active AFTER UPDATE OF end_time ON jobs "
    f"WHEN OLD.end_time IS NOT NULL AND NEW.end_time IS NULL BEGIN {_UNINDEX} END",
    f"CREATE TRIGGER jobs_unworded AFTER DELETE ON jobs WHEN OLD.end_time IS NOT NULL BEGIN {_UNINDEX} END",
]

_BY_ID = "SELECT id FROM jobs WHERE id >= ?1 AND id < ?1 || '~' AND end_time IS NOT NULL LIMIT ?2"
# Only the index first: a common word is given up after MAX_CANDIDATES + 1 keys, without reading its jobs' rows.
_BY_TEXT = "SELECT rowid FROM past_words WHERE past_words MATCH ?1 LIMIT ?2"
_KEYS_TO_IDS = "SELECT job_id FROM past_texts WHERE key IN (SELECT value FROM json_each(?1))"


def candidates(conn: sqlite3.Connection, words: tuple[str, ...]) -> list[str] | None:
    """The ids of every past job that may match all ``words`` (a superset, with some active jobs), from the word
    with the fewest; None when no word can be looked up or each is in more than :data:`MAX_CANDIDATES` jobs, or
    the file has no index (made where the library had no trigram tokenizer)."""
    try:
        return _candidates(conn, words)
    except sqlite3.OperationalError as exc:
        if "past_words" in str(exc) or "past_texts" in str(exc):  # no such table: the scan answers
            return None
        raise


def _candidates(conn: sqlite3.Connection, words: tuple[str, ...]) -> list[str] | None:
    best: list[str] | None = None
    for word in words:
        if len(word) < MIN_WORD:
            continue
        phrase = '"' + word.replace('"', '""') + '"'  # one FTS5 string: a substring, whatever its characters
        # Fewer rows than asked for: that is all of them.
        by_id = [r[0] for r in conn.execute(_BY_ID, (word, MAX_CANDIDATES + 1))]
        keys = [r[0] for r in conn.execute(_BY_TEXT, (phrase, MAX_CANDIDATES + 1 - len(by_id)))]
        if len(by_id) + len(keys) > MAX_CANDIDATES or (best is not None and len(by_id) + len(keys) >= len(best)):
            continue
        by_text = [r[0] for r in conn.execute(_KEYS_TO_IDS, (dumps_text(keys),))] if keys else []
        best = list(dict.fromkeys(by_id + by_text))
    return best
