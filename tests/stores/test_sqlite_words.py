"""The SQLite store's index of searched text (_sqlite_words, issue 26): a search that reads the index's
candidates answers exactly what the scan answers (same jobs, order and pages), the index follows every write
(a job's text indexed at its end, the end's own message included; jobs evicted and deleted: FTS5's integrity
check), and an old file gains it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobdeck.core.model import PastCursor
from jobdeck.stores import Store, _sqlite_words
from jobdeck.stores.sqlite import SQLiteStore

WORDS = ["alice", "bob", "ünïcode", "ÜNÏ", "50%", "a_b", 'say "hi"', "imports/2026", "row 7", "zz", "7",
         "timeout", "TimeoutError", "nowhere-at-all", "ali bob", "s3://imports", "0000"]


def fill(store: Store, n: int) -> list[str]:
    ids = []
    for i in range(n):
        author = ("alice", "bob", "Ünïcode Ülla")[i % 3]
        params = {"source": f"s3://imports/{2025 + i % 2}/{i:04d}.csv", "note": ("50% done", "a_b", 'say "hi"')[i % 3]}
        job = store.create_job(("Import", "Export")[i % 2], author, params)
        store.add_info_message(job.id, f"read row {i}")
        if i % 5 == 0:
            store.fail_job(job.id, f"TimeoutError: host {i} did not answer")
        elif i % 7 != 1:
            store.complete_job(job.id, {"i": i})
        ids.append(job.id)
    store.flush()
    return ids


def pages(store: Store, text: str, limit: int = 7) -> list[list[str]]:
    out: list[list[str]] = []
    before: PastCursor | None = None
    while True:
        page = store.search_jobs(text, limit=limit, before=before)
        out.append([j.id for j in page])
        past = [j for j in page if j.end_time is not None]
        if len(past) < limit:
            return out
        before = PastCursor.of(past[-1])


def check_index(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO past_words (past_words) VALUES ('integrity-check')")  # raises when out of step
        texts = conn.execute("SELECT COUNT(*) FROM past_texts").fetchone()[0]
        assert texts == conn.execute("SELECT COUNT(*) FROM jobs WHERE end_time IS NOT NULL").fetchone()[0]


def test_the_index_answers_what_the_scan_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "jobs.db", max_messages=3)
    try:
        ids = fill(store, 120)
        words = [*WORDS, ids[3][:8], ids[100][:6], ids[50]]
        indexed = {w: pages(store, w) for w in words}
        monkeypatch.setattr(_sqlite_words, "MAX_CANDIDATES", -1)  # every word too common: the scan, as before
        scanned = {w: pages(store, w) for w in words}
        assert indexed == scanned
        assert indexed[ids[3][:8]][0] == [ids[3]]
        assert any(indexed["timeout"]) and not any(indexed["nowhere-at-all"])
    finally:
        store.close()


def test_the_index_follows_capped_evicted_and_deleted_rows(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path, max_messages=2, max_past_jobs=20)
    try:
        ids = fill(store, 60)
        job = store.create_job("Import", "carol", {"file": "gone.csv"})
        for i in range(5):
            store.add_info_message(job.id, f"unique-line-{i}")
        store.flush()
        assert [j.id for j in store.search_jobs("unique-line-4")] == [job.id]  # active: scanned
        store.fail_job(job.id, "KeyError: the-last-words")
        assert [j.id for j in store.search_jobs("unique-line-0")] == []  # capped out before the end
        assert [j.id for j in store.search_jobs("unique-line-4")] == [job.id]
        assert [j.id for j in store.search_jobs("the-last-words")] == [job.id]  # the end's own message
        assert [j.id for j in store.search_jobs("gone.csv")] == [job.id]
        assert store.search_jobs(ids[0][:8]) == []  # evicted
        store.delete_jobs([job.id])
        assert store.search_jobs("gone.csv") == []
        check_index(path)
        store.cleanup_past_jobs()
        check_index(path)
    finally:
        store.close()


def test_an_old_file_gains_the_index_on_upgrade(tmp_path: Path) -> None:
    from jobdeck.stores._sqlite_schema import STEPS

    path = tmp_path / "old.db"
    words_step = STEPS.index(_sqlite_words.SCHEMA_STEP)
    conn = sqlite3.connect(path, isolation_level=None)
    for step in STEPS[:words_step]:
        for statement in step:
            conn.execute(statement)
    old = "0f0f0f0f-0000-4000-8000-000000000001"
    conn.execute("INSERT INTO jobs (id, job_type, author, status, start_time, end_time, last_activity, params) "
                 "VALUES (?, 'Old', 'olga', 'completed', 1, 2, 2, '{\"file\":\"ancient.csv\"}')", (old,))
    conn.execute("INSERT INTO messages (job_id, kind, text, ts) VALUES (?, 'info', 'written long ago', 1)", (old,))
    conn.execute(f"PRAGMA user_version = {words_step:d}")
    conn.close()
    store = SQLiteStore(path)
    try:
        for word in ("olga", "ancient.csv", "long ago", "0f0f0f0f"):
            assert [j.id for j in store.search_jobs(word)] == [old], word
        check_index(path)
    finally:
        store.close()


def test_a_file_without_the_index_searches_by_the_scan(tmp_path: Path) -> None:
    # What a file upgraded by an SQLite library without the trigram tokenizer has: no index tables, no triggers.
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path)
    try:
        ids = fill(store, 30)
        before = {w: pages(store, w) for w in ("alice", "timeout", ids[3][:8])}
        with sqlite3.connect(path) as conn:
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE "
                                        "'%past_words%'").fetchall():
                conn.execute(f'DROP TRIGGER "{name}"')
            conn.execute("DROP TABLE past_words")
            conn.execute("DROP TABLE past_texts")
        assert {w: pages(store, w) for w in before} == before
        more = fill(store, 3)  # jobs still end without the index's triggers
        assert pages(store, more[0][:8])[0] == [more[0]]
    finally:
        store.close()
