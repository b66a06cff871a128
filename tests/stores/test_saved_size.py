"""The total size of a job's saved values, kept by every save (so that a save reads its own keys, not every value
the job saved): exact through replacements, refusals, copies and shrinking on every backend, gone with its job,
and counted once for values saved before it was kept (an older SQLite file, PostgreSQL schema or Redis store)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from jobdeck.core.errors import InvalidArgumentError
from jobdeck.stores import MemoryStore, Store
from jobdeck.stores.postgres import PostgresStore
from jobdeck.stores.redis import RedisStore
from jobdeck.stores.sqlite import SQLiteStore

from .conftest import Backend
from .test_behaviour_recovery import running


def size_step(steps: list[list[str]]) -> int:
    """The schema version just before the step that keeps the totals (not merely the newest step: steps added
    later must not turn the upgrade tests into tests of something else)."""
    return next(i for i, step in enumerate(steps) if any("CREATE TABLE" in s and "saved_size" in s for s in step))


LIMIT = 700  # with values of at most 302 bytes, every total a refusal states is under 1 KiB: shown in bytes


def kept_sizes(store: Store) -> int:
    """How many per-job totals the store keeps, counted in its own storage."""
    if isinstance(store, MemoryStore):
        return len(store._saved)
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM saved_size").fetchone()[0])
    if isinstance(store, PostgresStore):
        return int(store._pool_one(store.names.render("SELECT count(*) FROM {saved_size}"))[0][0])
    assert isinstance(store, RedisStore)
    return len(list(store._redis.scan_iter(match=f"{store.prefix}:savedsize:*")))


def refused_total(store: Store, job_id: str, key: str, value: str) -> int | None:
    """None if ``value`` was saved under ``key``; the total the store said it would have reached if refused."""
    try:
        store.save_value(job_id, key, value)
    except InvalidArgumentError as exc:
        text = str(exc)
        return int(text.split("saved values to ")[1].split(" B;", maxsplit=1)[0])
    return None


def test_the_total_follows_every_save_replace_refusal_and_copy(backend: Backend) -> None:
    store = backend.open(max_saved_bytes=LIMIT)
    rng = random.Random(26)
    job = running(store)
    model: dict[str, str] = {}  # what the job holds: key -> value (its JSON text is the value and two quotes)
    for _ in range(300):
        key, value = f"k{rng.randrange(12)}", "x" * rng.randrange(0, 300)
        total = sum(len(v) + 2 for k, v in model.items() if k != key) + len(value) + 2
        refused = refused_total(store, job.id, key, value)
        if total > LIMIT:
            assert refused == total  # the total it states is the exact one, and nothing was written
        else:
            assert refused is None
            model[key] = value
        assert store.saved_values(job.id) == model
    # A copy onto a job with values of its own: the shared keys are replaced, and counted once.
    other = running(store)
    store.save_value(other.id, "k0", "y" * 10)
    store.save_value(other.id, "own", "z" * 20)
    expected = {**{"k0": "y" * 10, "own": "z" * 20}, **model}
    total = sum(len(v) + 2 for v in expected.values())
    if total <= LIMIT:
        assert store.copy_saved(job.id, other.id)
        assert refused_total(store, other.id, "fill", "f" * (LIMIT - total - 1)) == LIMIT + 1
    else:
        with pytest.raises(InvalidArgumentError, match=f"to {total} B"):
            store.copy_saved(job.id, other.id)


def test_the_totals_go_with_their_jobs(backend: Backend) -> None:
    store = backend.open(max_past_jobs=1)
    first, second, bare = running(store), running(store), running(store)
    store.save_value(first.id, "a", 1)
    store.save_value(second.id, "b", 2)
    assert kept_sizes(store) == 2  # a job that saved nothing keeps no total
    store.complete_job(first.id)
    store.complete_job(second.id)  # retention (max_past_jobs=1) evicts the first
    assert kept_sizes(store) == 1
    store.complete_job(bare.id)
    assert kept_sizes(store) == 0


def test_values_saved_before_the_total_was_kept_are_counted_once_sqlite(tmp_path: Path) -> None:
    from jobdeck.stores._sqlite_schema import STEPS

    path = tmp_path / "before.db"
    version = size_step(STEPS)
    conn = sqlite3.connect(path, isolation_level=None)
    for step in STEPS[:version]:
        for statement in step:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO jobs (id, job_type, author, status, progress, start_time, last_activity) "
                 "VALUES ('old', 'Import', 'admin', 'running', 0.5, 1000.0, 1000.0)")
    conn.execute("INSERT INTO saved (job_id, key, value) VALUES ('old', 'a', ?), ('old', 'b', ?)",
                 ('"' + "a" * 398 + '"', '"' + "b" * 98 + '"'))  # 400 and 100 bytes of JSON text
    conn.close()
    store = SQLiteStore(path, max_saved_bytes=LIMIT)
    try:
        assert refused_total(store, "old", "c", "c" * 299) == 801
        assert refused_total(store, "old", "a", "a" * 198) is None  # replaces 400 with 200: 300 in all
        assert refused_total(store, "old", "c", "c" * 399) == 701
        assert refused_total(store, "old", "c", "c" * 398) is None
    finally:
        store.close()


@pytest.mark.postgres
def test_values_saved_before_the_total_was_kept_are_counted_once_postgres(postgres_url: str, schema: str) -> None:
    import psycopg

    from jobdeck.stores._pg_schema import STEPS, Names

    names = Names(schema, "jobdeck_")
    version = size_step(STEPS)
    job_id = "0f0f0f0f-0000-4000-8000-00000000517e"
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # what the version before created
        conn.execute(names.render("CREATE SCHEMA {schema}"))
        conn.execute(names.render("CREATE TABLE {schema_version} (version integer NOT NULL, "
                                  "upgraded_at timestamptz NOT NULL DEFAULT now())"))
        for step in STEPS[:version]:
            for statement in step:
                conn.execute(names.render(statement))
        conn.execute(names.render("INSERT INTO {schema_version} (version) VALUES (%s)"), (version,))
        conn.execute(names.render("INSERT INTO {jobs} (id, job_type, author, status, start_time) "
                                  "VALUES (%s, 'Old', 'me', 'running', 1)"), (job_id,))
        conn.execute(names.render("INSERT INTO {hot} (id, last_activity) VALUES (%s, 1)"), (job_id,))
        conn.execute(names.render("INSERT INTO {saved} (job_id, key, value) VALUES (%s, 'a', %s), (%s, 'b', %s)"),
                     (job_id, '"' + "a" * 398 + '"', job_id, '"' + "b" * 98 + '"'))
    store = PostgresStore(postgres_url, schema=schema, max_saved_bytes=LIMIT)
    try:
        assert store.migrated_from == version
        assert refused_total(store, job_id, "c", "c" * 299) == 801
        assert refused_total(store, job_id, "a", "a" * 198) is None
        assert refused_total(store, job_id, "c", "c" * 399) == 701
        assert refused_total(store, job_id, "c", "c" * 398) is None
    finally:
        store.close()


def test_values_saved_before_the_total_was_kept_are_counted_once_redis(redis_url: str, redis_prefix: str) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix, max_saved_bytes=LIMIT)
    try:
        job = running(store)
        # What an older jobdeck left: the values' hash, and no total beside it.
        store._redis.hset(f"{redis_prefix}:saved:{job.id}", mapping={"a": '"' + "a" * 398 + '"',
                                                                     "b": '"' + "b" * 98 + '"'})
        assert refused_total(store, job.id, "c", "c" * 299) == 801
        assert refused_total(store, job.id, "a", "a" * 198) is None
        assert store._redis.get(f"{redis_prefix}:savedsize:{job.id}") == "300"
        assert refused_total(store, job.id, "c", "c" * 399) == 701
        assert refused_total(store, job.id, "c", "c" * 398) is None
    finally:
        store.close()
