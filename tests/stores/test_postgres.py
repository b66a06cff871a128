"""What only the PostgreSQL store has: URL options, versioned migrations under an advisory lock, one clear line
for every way opening fails, NOTIFY as a wake-up, HOT progress updates, and writing in the caller's transaction.
The behaviour every store shares is in test_behaviour*.py and test_message_buffer.py."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from jobdeck.core.errors import StoreError
from jobdeck.core.model import JobStatus, PastCursor
from jobdeck.core.operations import OperationNode, OperationTree
from jobdeck.core.pipeline import MAX_SNAPSHOT_CHILDREN, PipelineTree
from jobdeck.stores import open_store, upgrade_store
from jobdeck.stores._pg_schema import LATEST_VERSION
from jobdeck.stores.postgres import PostgresStore
from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.postgres



def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def test_url_options_choose_schema_prefix_pool_and_limits(postgres_url: str, schema: str) -> None:
    store = open_store(with_query(postgres_url, f"schema={schema}&prefix=ops_&pool_size=2&stale_after=7"
                                                "&max_messages=3&application_name=jobdeck-test"))
    try:
        assert isinstance(store, PostgresStore)
        assert store.stale_after == 7 and store.max_messages == 3
        job = store.create_job("T", "me")
        with psycopg.connect(postgres_url) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
            names = {r[0] for r in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")}
        assert {"ops_jobs", "ops_hot", "ops_messages", "ops_events", "ops_schema_version"} <= tables
        assert "jobdeck-test" in names  # libpq's own options pass through
        assert store.require_job(job.id).status is JobStatus.RUNNING
    finally:
        store.close()
    also = open_store(with_query(postgres_url.replace("postgresql://", "postgres://"), f"schema={schema}&prefix=ops_"))
    try:
        assert also.get_job(job.id) is not None
    finally:
        also.close()


@pytest.mark.parametrize("query, message", [
    ("pool_size=many", "pool_size='many' is not a valid int"),
    ("listen=maybe", "listen='maybe' is not a valid bool"),
    ("schema=Bad-Name", "schema 'Bad-Name' must be lower-case letters"),
    ("nonsense_option=1", "bad PostgreSQL URL"),
])
def test_bad_options_are_one_clear_line(postgres_url: str, query: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        open_store(with_query(postgres_url, query))
    assert "\n" not in str(info.value)


def test_migrations_run_once_under_a_lock_and_a_newer_schema_is_refused(postgres_url: str, schema: str) -> None:
    url = with_query(postgres_url, f"schema={schema}")
    results: list[tuple[int, int] | BaseException] = []
    barrier = threading.Barrier(4)

    def upgrade() -> None:
        barrier.wait(timeout=10)
        try:
            results.append(PostgresStore.upgrade(url))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [(0, LATEST_VERSION)] + [(LATEST_VERSION, LATEST_VERSION)] * 3, results
    assert upgrade_store(url) == (LATEST_VERSION, LATEST_VERSION)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute(f'SELECT version FROM "{schema}".jobdeck_schema_version')]
        assert versions == [LATEST_VERSION]
        conn.execute(f'INSERT INTO "{schema}".jobdeck_schema_version (version) VALUES (%s)', (LATEST_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1} but this jobdeck knows only up to"):
        open_store(url)


def test_no_migrate_refuses_an_old_schema_and_names_the_command(postgres_url: str, schema: str) -> None:
    url = with_query(postgres_url, f"schema={schema}")
    with pytest.raises(StoreError, match=r"schema version 0, this jobdeck needs .*jobdeck db upgrade"):
        open_store(url, migrate=False)
    open_store(url).close()
    store = open_store(url, migrate=False)
    assert isinstance(store, PostgresStore) and store.schema_note == f"version {LATEST_VERSION} (up to date)"
    store.close()


def test_unreachable_server_and_missing_database_are_one_line(postgres_url: str) -> None:
    nowhere = f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/postgres?connect_timeout=2"
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        open_store(nowhere)
    text = str(info.value)
    assert "cannot open PostgreSQL store postgresql://postgres:***@127.0.0.1" in text
    assert "is the server running" in text and "s3cret-pw" not in text and "\n" not in text
    assert time.monotonic() - started < 10
    missing = postgres_url.rsplit("/", 1)[0] + f"/jobdeck_missing_{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreError, match=r"does not exist.*create the database first") as info:
        open_store(missing)
    assert "\n" not in str(info.value)


def test_a_user_who_may_not_create_tables_is_told_what_to_do(postgres_url: str, schema: str) -> None:
    role = f"jobdeck_ro_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'REVOKE CREATE ON SCHEMA public FROM "{role}"')
    try:
        as_role = postgres_url.replace("://postgres@", f"://{role}@", 1)
        assert as_role != postgres_url, "DATABASE_URL must name the user postgres for this test"
        with pytest.raises(StoreError, match=r"permission denied.*grant it CREATE.*jobdeck db upgrade") as info:
            open_store(as_role)
        assert "\n" not in str(info.value)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{role}"')


def test_another_store_object_is_woken_by_notify(postgres_url: str, schema: str) -> None:
    writer = PostgresStore(postgres_url, schema=schema)
    reader = PostgresStore(postgres_url, schema=schema)
    try:
        job = writer.create_job("T", "me")
        cursor = reader.read_events().cursor
        reader.wait_events(cursor, timeout=0.01)  # opens the listening connection
        wait_for(lambda: reader._listener is not None and reader._listener.healthy, timeout=10,
                 what="the listening connection")
        delays = []
        for i in range(5):
            got: list[float] = []

            def wait(c: str | None = cursor, got: list[float] = got) -> None:
                batch = reader.wait_events(c, timeout=10)
                got.append(time.monotonic())
                assert batch.events

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.05)  # let the waiter block: polling alone would take a second while NOTIFY works
            sent = time.monotonic()
            writer.add_warning_message(job.id, f"m{i}")
            waiter.join(timeout=15)
            delays.append(got[0] - sent)
            cursor = reader.read_events(cursor).cursor
        assert max(delays) < 0.5, delays
    finally:
        writer.close()
        reader.close()


def test_without_listen_waiters_poll(postgres_url: str, schema: str) -> None:
    writer = PostgresStore(postgres_url, schema=schema)
    reader = open_store(with_query(postgres_url, f"schema={schema}&listen=false"))
    try:
        job = writer.create_job("T", "me")
        cursor = reader.read_events().cursor
        threading.Timer(0.2, lambda: writer.add_info_message(job.id, "polled")).start()
        batch = reader.wait_events(cursor, timeout=5)
        assert [e.data["message"]["message"] for e in batch.events] == ["polled"]
        assert isinstance(reader, PostgresStore) and reader._listener is None
    finally:
        writer.close()
        reader.close()


@pytest.mark.slow
def test_progress_updates_stay_hot(postgres_url: str, schema: str) -> None:
    store = PostgresStore(postgres_url, schema=schema, progress_interval=0)
    try:
        job = store.create_job("T", "me")
        tree = PipelineTree([f"op{i}" for i in range(MAX_SNAPSHOT_CHILDREN)])
        for i in range(300):
            # Every third write carries a full-width operation tree (a few kB, kept out of line by TOAST).
            if i % 3 == 0:
                tree.set(f"op{i % MAX_SNAPSHOT_CHILDREN}", 0.5)
            store.update_progress(job.id, i / 300, None, tree.snapshot() if i % 3 == 0 else None)
            store.flush()  # one write each: after its first value a job's progress is written by the buffer
        with psycopg.connect(postgres_url) as conn:
            deadline = time.monotonic() + 10
            while True:  # the statistics collector reports with a small delay
                conn.execute("SELECT pg_stat_clear_snapshot()")
                updated, hot = conn.execute(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = %s AND "
                    "relname = 'jobdeck_hot'", (schema,)).fetchone() or (0, 0)
                if updated >= 300 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        assert updated >= 300
        assert hot >= 0.9 * updated, (hot, updated)
    finally:
        store.close()


def test_create_in_the_callers_transaction_commits_or_rolls_back_with_it(postgres_url: str, schema: str) -> None:
    store = PostgresStore(postgres_url, schema=schema)
    try:
        with psycopg.connect(postgres_url) as conn:
            with conn.transaction(), store.using(conn):
                kept = store.create_job("Kept", "me")
            with pytest.raises(RuntimeError), conn.transaction(), store.using(conn):
                store.create_job("Gone", "me")
                raise RuntimeError("the caller's enqueue failed")
        assert store.get_job(kept.id) is not None
        assert [j.job_type for j in store.get_active_jobs()] == ["Kept"]
        assert [e.data["jobType"] for e in store.read_events("0").events] == ["Kept"]
    finally:
        store.close()


def test_a_version_1_schema_is_upgraded_keeping_jobs_and_events(postgres_url: str, schema: str) -> None:
    from jobdeck.stores._pg_schema import STEPS, Names

    names = Names(schema, "jobdeck_")
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # what the first release created
        conn.execute(names.render("CREATE SCHEMA {schema}"))
        conn.execute(names.render("CREATE TABLE {schema_version} (version integer NOT NULL, "
                                  "upgraded_at timestamptz NOT NULL DEFAULT now())"))
        for statement in STEPS[0]:
            conn.execute(names.render(statement))
        conn.execute(names.render("INSERT INTO {schema_version} (version) VALUES (1)"))
        conn.execute(names.render("INSERT INTO {jobs} (id, job_type, author, status, start_time) "
                                  "VALUES ('0f0f0f0f-0000-4000-8000-000000000001', 'Old', 'me', 'running', 1)"))
        conn.execute(names.render("INSERT INTO {hot} (id, last_activity) "
                                  "VALUES ('0f0f0f0f-0000-4000-8000-000000000001', 1)"))
        conn.execute(names.render("INSERT INTO {events} VALUES (1, '0f0f0f0f-0000-4000-8000-000000000001', "
                                  "'created', '{{}}')"))
        conn.execute(names.render("UPDATE {event_seq} SET last_id = 1"))
    store = PostgresStore(postgres_url, schema=schema)
    try:
        assert (store.migrated_from, store.schema_version) == (1, LATEST_VERSION)
        assert store.schema_note == f"version {LATEST_VERSION}, upgraded from 1 at start"
        assert store.read_events("0").events[0].type.value == "created"
        assert not store.read_events("1").reset
        store.add_info_message("0f0f0f0f-0000-4000-8000-000000000001", "after the upgrade")
        old_id = "0f0f0f0f-0000-4000-8000-000000000001"
        assert store.require_job(old_id, operations=True).operations is None  # the column came with step 4
        tree = OperationTree((OperationNode("load", 1.0, "done"),))
        assert store.update_progress(old_id, 0.5, None, tree)
        assert store.complete_job("0f0f0f0f-0000-4000-8000-000000000001")
        job = store.require_job("0f0f0f0f-0000-4000-8000-000000000001", operations=True)
        assert job.status is JobStatus.COMPLETED and job.info_messages[0].message == "after the upgrade"
        assert job.operations == tree
    finally:
        store.close()


def test_the_store_vacuums_its_hot_tables_itself(postgres_url: str, schema: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import jobdeck.stores.postgres as module

    monkeypatch.setattr(module, "_VACUUM_EVERY", 20)
    store = PostgresStore(postgres_url, schema=schema, progress_interval=0)
    try:
        job = store.create_job("T", "me")
        for i in range(50):
            store.update_progress(job.id, i / 50)
            store.flush()

        def vacuumed() -> bool:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                counts = dict(conn.execute(
                    "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE schemaname = %s", (schema,)))
            return counts.get("jobdeck_hot", 0) >= 1 and counts.get("jobdeck_event_seq", 0) >= 1

        wait_for(vacuumed, timeout=10, what="the store to vacuum its hot tables")
        assert store.require_job(job.id).progress == 49 / 50
    finally:
        store.close()


def test_lists_read_messages_one_row_per_job_in_bounded_groups(postgres_url: str, schema: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from jobdeck.stores import _pg_rows

    assert _pg_rows.jobs_per_trip(None, 1000) == 4 and _pg_rows.jobs_per_trip(3, 1000) == 200
    assert _pg_rows.jobs_per_trip(2000, 1000) == 4 and _pg_rows.jobs_per_trip(6000, 10_000) == 1
    monkeypatch.setattr(_pg_rows, "MESSAGES_PER_TRIP", 30)  # 2 jobs of 3 x 5 messages per statement
    assert _pg_rows.jobs_per_trip(None, 5) == 2
    store = PostgresStore(postgres_url, schema=schema, max_messages=5)
    odd = ['he said "hi"\n\ttab \\ back', "ünïcødé ✓ 😀", "", "</script>", "x" * 3000]
    try:
        made = []
        for n in range(11):
            job = store.create_job("T", "me")
            for i, text in enumerate(odd):
                store.add_info_message(job.id, f"{n}:{text}")
                store.add_warning_message(job.id, f"w{n}.{i}")
            store.add_info_message(job.id, f"{n}:last")
            if n % 2:
                store.complete_job(job.id)
            made.append(job.id)
        wanted = {job_id: [f"{n}:{t}" for t in odd[1:]] + [f"{n}:last"] for n, job_id in enumerate(made)}
        jobs = store.get_active_jobs() + store.get_past_jobs()
        assert {j.id for j in jobs} == set(made)
        for job in jobs:
            assert [m.message for m in job.info_messages] == wanted[job.id]  # newest 5, oldest first
            assert [m.message for m in job.warning_messages] == [f"w{made.index(job.id)}.{i}" for i in range(5)]
            assert job.error_messages == []
            times = [m.timestamp for m in job.info_messages]
            assert times == sorted(times) and all(type(t) is float for t in times)
        last2 = {j.id: j for j in store.get_past_jobs(messages=2)}
        assert [m.message for m in last2[made[1]].info_messages] == [f"1:{odd[-1]}", "1:last"]
        assert store.require_job(made[0]).info_messages[-1].message == "0:last"
    finally:
        store.close()


def test_search_runs_in_sql_and_takes_like_wildcards_literally(postgres_url: str, schema: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import jobdeck.stores.base as base

    def refuse(*args: object) -> None:
        raise AssertionError("the generic search read the job lists")

    monkeypatch.setattr(base, "generic_search", refuse)
    store = PostgresStore(postgres_url, schema=schema)
    try:
        a = store.create_job("Import", "maria", {"rate": "100%"})
        store.add_info_message(a.id, "renamed snake_case columns")
        store.complete_job(a.id)
        b = store.create_job("Import", "sam", {"rate": 1000})
        store.add_info_message(b.id, "renamed snakeXcase columns")
        store.complete_job(b.id)
        c = store.create_job("Export", "MARIA")
        store.add_warning_message(c.id, "back\\slash")  # still buffered: the search settles writes first

        def ids(text: str, **kw: object) -> list[str]:
            return [job.id for job in store.search_jobs(text, **kw)]  # type: ignore[arg-type]

        assert ids("100%") == [a.id]
        assert ids("snake_case") == [a.id]
        assert ids("snake") == [b.id, a.id]
        assert ids("maria") == [c.id, a.id]
        assert ids("back\\slash") == [c.id]
        assert ids(a.id[:8].upper()) == [a.id]
        assert ids("renamed", limit=1) == [b.id]
        assert ids("renamed", limit=1, before=PastCursor.of(store.search_jobs("renamed", limit=1)[0])) == [a.id]
    finally:
        store.close()


def test_past_summary_counts_in_sql(postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import jobdeck.stores.base as base

    def refuse(*args: object) -> None:
        raise AssertionError("the generic count read every past job")

    monkeypatch.setattr(base, "generic_past_counts", refuse)
    store = PostgresStore(postgres_url, schema=schema)
    try:
        for outcome in ("completed", "completed", "failed"):
            job = store.create_job("Import", "me")
            if outcome == "completed":
                store.complete_job(job.id)
            else:
                store.fail_job(job.id, "row 3: bad date")
        store.create_job("Import", "me")  # active: not counted
        other = store.create_job("Cleanup", "me")
        store.fail_job(other.id, "disk full")
        summary = {s.job_type: s for s in store.past_summary(runs=2)}
        assert summary["Import"].counts[JobStatus.COMPLETED] == 2
        assert summary["Import"].counts[JobStatus.FAILED] == 1
        assert summary["Import"].total == 3 and len(summary["Import"].recent) == 2
        assert summary["Cleanup"].counts[JobStatus.FAILED] == 1 and summary["Cleanup"].total == 1
    finally:
        store.close()
