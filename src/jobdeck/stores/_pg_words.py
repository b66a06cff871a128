"""The PostgreSQL store's index of the text a search matches in past jobs (issue 26), as on SQLite
(:mod:`._sqlite_words`): each past job's author, params and messages joined in one row of ``past_texts``, written
once by a trigger when the job ends (a finished job's text does not change) and removed with the job by its
foreign key, with a trigram index (``pg_trgm``, GIN) that answers ``ILIKE '%word%'``.

A search word of 3 or more characters is looked up there and in the id index (:func:`candidates`); when one word
is in at most :data:`MAX_CANDIDATES` past jobs, the page is read from those jobs only, each checked with the
exact conditions of the scan (the same answer, order and pages). Otherwise -- short words, or words in many jobs,
whose matches are dense -- the scan along the past list stays (:mod:`._pg_search`).

``pg_trgm`` is an extension: the schema step creates it when the database allows (it ships with PostgreSQL;
creating it needs the CREATE privilege on the database, or a superuser on PostgreSQL < 13). Where it cannot,
the step leaves the index out, says so in the server's log (a NOTICE), and searches scan as before; an
administrator can run ``CREATE EXTENSION pg_trgm`` and the step's ``CREATE INDEX`` later (a store object looks
for the index when it opens). Messages are not indexed as they are written: that table takes batches of
thousands of rows a second, and each row would pay for its trigrams; a job's text is indexed once, at its end,
in the ending transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["CANDIDATES", "HAS_INDEX", "MAX_CANDIDATES", "MIN_WORD", "SCHEMA_STEP", "candidates"]

MIN_WORD = 3  # a trigram index cannot look up anything shorter
MAX_CANDIDATES = 1_000  # more than this for every word: the scan (dense matches fill a page soon)

_TEXT = ("NEW.author || E'\\n' || NEW.params || COALESCE(E'\\n' || (SELECT string_agg(m.text, E'\\n' ORDER BY m.seq) "
         "FROM {messages} m WHERE m.job_id = NEW.id), '')")

SCHEMA_STEP = [
    """CREATE TABLE {past_texts} (
        job_id text COLLATE "C" PRIMARY KEY REFERENCES {jobs} (id) ON DELETE CASCADE,
        text text NOT NULL
    )""",
    "INSERT INTO {past_texts} (job_id, text) SELECT j.id, j.author || E'\\n' || j.params || COALESCE(E'\\n' || "
    "(SELECT string_agg(m.text, E'\\n' ORDER BY m.seq) FROM {messages} m WHERE m.job_id = j.id), '') "
    "FROM {jobs} j WHERE j.end_time IS NOT NULL",
    """CREATE FUNCTION {word_job}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.end_time IS NULL THEN
            DELETE FROM {past_texts} WHERE job_id = NEW.id;
        ELSE
            INSERT INTO {past_texts} (job_id, text) VALUES (NEW.id, """ + _TEXT + """)
                ON CONFLICT (job_id) DO UPDATE SET text = EXCLUDED.text;
        END IF;
        RETURN NULL;
    END $$""",  # noqa: S608 - constant text
    "CREATE TRIGGER {jobs_worded} AFTER INSERT ON {jobs} FOR EACH ROW WHEN (NEW.end_time IS NOT NULL) "
    "EXECUTE FUNCTION {word_job}()",
    "CREATE TRIGGER {jobs_worded_moved} AFTER UPDATE OF end_time ON {jobs} FOR EACH ROW "
    "WHEN ((OLD.end_time IS NULL) <> (NEW.end_time IS NULL)) EXECUTE FUNCTION {word_job}()",
    # The index, where pg_trgm can be had (see the module docstring).
    """DO $$ BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXECUTE 'CREATE INDEX {past_words} ON {past_texts} USING gin (text gin_trgm_ops)';
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'jobdeck: no trigram index of past jobs'' text (%), searches scan: %', SQLSTATE, SQLERRM;
    END $$""",
]

# Whether the index is there (read when a store opens).
HAS_INDEX = "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s)"

CANDIDATES = ("(SELECT id FROM {jobs} WHERE id >= %(word)s AND id < %(word)s || '~' AND end_time IS NOT NULL) "
              "UNION ALL (SELECT job_id FROM {past_texts} WHERE text ILIKE %(pattern)s) LIMIT %(limit)s")


def candidates(conn: psycopg.Connection[Any], statement: bytes, words: tuple[str, ...],
               patterns: list[str]) -> list[str] | None:
    """The ids of the past jobs that may match all ``words``, from the word with the fewest; None when no word
    can be looked up or each is in more than :data:`MAX_CANDIDATES` past jobs (then: scan)."""
    best: list[str] | None = None
    # The planner prices a trigram lookup above reading the whole table up to tens of thousands of rows (an
    # ILIKE per row looks cheap to it): 17-27 ms for that read against 1.7 ms for the lookup at 10,000 jobs.
    conn.execute(b"SET LOCAL enable_seqscan = off")
    try:
        for word, pattern in zip(words, patterns, strict=True):
            if len(word) < MIN_WORD:
                continue
            # UNION ALL (a job both halves give comes twice): it stops at the limit, where UNION would read
            # every match first. Fewer rows than the limit: that is all of them.
            rows = conn.execute(statement, {"word": word, "pattern": pattern, "limit": MAX_CANDIDATES + 1},
                                prepare=False).fetchall()
            if len(rows) <= MAX_CANDIDATES and (best is None or len(rows) < len(best)):
                best = list(dict.fromkeys(r[0] for r in rows))
    finally:
        conn.execute(b"SET LOCAL enable_seqscan = on")
    return best
