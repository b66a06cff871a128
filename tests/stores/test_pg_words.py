"""The PostgreSQL store's trigram index of past jobs' text (_pg_words, issue 26): searches through it answer what
the scan answers (jobs, order, pages), the text follows the job's end (its last error included), evictions and
deletes, and an old schema gains it on upgrade."""

from __future__ import annotations

import psycopg
import pytest

from jobdeck.stores import _pg_words
from jobdeck.stores._pg_schema import STEPS, Names
from jobdeck.stores.postgres import PostgresStore

from .test_sqlite_words import WORDS, fill, pages

pytestmark = pytest.mark.postgres



def past_texts_in_step(url: str, schema: str) -> None:
    with psycopg.connect(url) as conn:
        texts, past = conn.execute(f'SELECT (SELECT count(*) FROM "{schema}".jobdeck_past_texts), '
                                   f'(SELECT count(*) FROM "{schema}".jobdeck_jobs WHERE end_time IS NOT NULL)'
                                   ).fetchone() or (None, None)
    assert texts == past


def test_the_index_answers_what_the_scan_answers(postgres_url: str, schema: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = PostgresStore(postgres_url, schema=schema, max_messages=3)
    try:
        assert store._worded  # pg_trgm is there on the test database
        ids = fill(store, 120)
        words = [*WORDS, ids[3][:8], ids[100][:6], ids[50]]
        indexed = {w: pages(store, w) for w in words}
        monkeypatch.setattr(_pg_words, "MAX_CANDIDATES", -1)  # every word too common: the scan, as before
        scanned = {w: pages(store, w) for w in words}
        assert indexed == scanned
        assert indexed[ids[3][:8]][0] == [ids[3]]
    finally:
        store.close()


def test_the_text_follows_ends_evictions_and_deletes(postgres_url: str, schema: str) -> None:
    store = PostgresStore(postgres_url, schema=schema, max_messages=2, max_past_jobs=20)
    try:
        ids = fill(store, 40)
        job = store.create_job("Import", "carol", {"file": "gone.csv"})
        for i in range(5):
            store.add_info_message(job.id, f"unique-line-{i}")
        store.flush()
        store.fail_job(job.id, "KeyError: the-last-words")
        assert [j.id for j in store.search_jobs("unique-line-0")] == []  # capped out before the end
        assert [j.id for j in store.search_jobs("unique-line-4")] == [job.id]
        assert [j.id for j in store.search_jobs("the-last-words")] == [job.id]
        assert store.search_jobs(ids[0][:8]) == []  # evicted
        store.delete_jobs([job.id])
        assert store.search_jobs("gone.csv") == []
        past_texts_in_step(postgres_url, schema)
    finally:
        store.close()


def test_an_old_schema_gains_the_index_on_upgrade(postgres_url: str, schema: str) -> None:
    names = Names(schema, "jobdeck_")
    version = STEPS.index(_pg_words.SCHEMA_STEP)
    old = "0f0f0f0f-0000-4000-8000-000000000001"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(names.render("CREATE SCHEMA {schema}"))
        conn.execute(names.render("CREATE TABLE {schema_version} (version integer NOT NULL, "
                                  "upgraded_at timestamptz NOT NULL DEFAULT now())"))
        for step in STEPS[:version]:
            for statement in step:
                conn.execute(names.render(statement))
        conn.execute(names.render("INSERT INTO {schema_version} (version) VALUES (%s)"), (version,))
        conn.execute(names.render("INSERT INTO {jobs} (id, job_type, author, status, start_time, end_time, params) "
                                  "VALUES (%s, 'Old', 'olga', 'completed', 1, 2, '{{\"file\":\"ancient.csv\"}}')"),
                     (old,))
        conn.execute(names.render("INSERT INTO {hot} (id, last_activity) VALUES (%s, 2)"), (old,))
        conn.execute(names.render("INSERT INTO {messages} (job_id, kind, text, ts) "
                                  "VALUES (%s, 'info', 'written long ago', 1)"), (old,))
    store = PostgresStore(postgres_url, schema=schema)
    try:
        assert store.migrated_from == version and store._worded
        for word in ("olga", "ancient.csv", "long ago", "0f0f0f0f"):
            assert [j.id for j in store.search_jobs(word)] == [old], word
        past_texts_in_step(postgres_url, schema)
    finally:
        store.close()
