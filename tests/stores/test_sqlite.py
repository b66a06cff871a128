"""What only the SQLite store has: URLs and paths, schema upgrades, surviving a killed process."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobdeck.core.errors import StoreError
from jobdeck.core.model import JobStatus
from jobdeck.stores import open_store
from jobdeck.stores._sqlite_schema import LATEST_VERSION, STEPS
from jobdeck.stores._stored import HEAD_FIELDS
from jobdeck.stores.sqlite import SQLiteStore
from tests.conftest import wait_for

# ---------------------------------------------------------------------- URLs and paths


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.db")
    assert isinstance(relative, SQLiteStore) and relative.path == Path("rel.db")
    relative.create_job("T", "me")
    relative.close()
    assert (tmp_path / "rel.db").is_file()
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db?progress_interval=0.2", max_messages=7)
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == tmp_path / "abs.db" and absolute.max_messages == 7
    assert absolute._progress.interval == 0.2
    absolute.close()
    (tmp_path / "sub").mkdir()
    nested = open_store("sqlite:///sub/nested.db")
    nested.close()
    assert (tmp_path / "sub" / "nested.db").is_file()


@pytest.mark.parametrize(("url", "complaint"), [
    ("sqlite://", "no file path"),
    ("sqlite:///", "no file path"),
    ("sqlite://somehost/jobs.db", "names a host"),
    ("sqlite:///jobs.db?colour=blue", "unknown SQLite URL option 'colour'"),
    ("sqlite:///jobs.db?progress_interval=soon", "not a number"),
])
def test_bad_urls(url: str, complaint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=complaint):
        open_store(url)


def test_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"directory .*nowhere does not exist; create it first"):
        SQLiteStore(tmp_path / "nowhere" / "jobs.db")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        SQLiteStore(tmp_path)


def test_unwritable_location(tmp_path: Path) -> None:
    # /proc refuses new files even to root, unlike a chmod-ed directory.
    with pytest.raises(StoreError, match=re.escape("cannot open SQLite store /proc/jobs.db")):
        SQLiteStore("/proc/jobs.db")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            with pytest.raises(StoreError, match="cannot open SQLite store"):
                SQLiteStore(locked / "jobs.db")
        finally:
            locked.chmod(0o755)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a database"):
        SQLiteStore(path)
    assert path.read_bytes().startswith(b"these are my notes")  # nothing lost


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    job = store.create_job("T", "me")
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="is closed"):
        store.get_job(job.id)


# ---------------------------------------------------------------------- schema versions


def test_older_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in STEPS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO jobs (id, job_type, author, status, progress, start_time, last_activity, params) "
                 "VALUES ('old-1', 'Import', 'admin', 'running', 0.5, 1000.0, 1000.0, '{\"file\": \"a.csv\"}')")
    conn.execute("INSERT INTO messages (job_id, kind, text, ts) VALUES ('old-1', 'info', 'from v1', 1000.5)")
    conn.close()
    store = SQLiteStore(path)
    old = store.require_job("old-1")
    assert old.params == {"file": "a.csv"} and old.progress == 0.5 and old.owner is None
    assert [m.message for m in old.info_messages] == ["from v1"]
    assert store.heartbeat("old-1", "host:1:x")  # the column added by the upgrade
    assert store.require_job("old-1").owner == "host:1:x"
    assert store.request_abort("old-1", "stop", by="ops@example.com")  # aborted_by: added by version 5
    assert store.require_job("old-1").aborted_by == "ops@example.com"
    assert store.claim("notify:old-1") and not store.claim("notify:old-1")  # the claims table, too
    store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    check.close()


def test_an_unreadable_stored_tree_leaves_the_job_readable(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path)
    try:
        good = store.create_job("T", "me")
        bad = store.create_job("T", "me")
        for job_id, text in ((good, '[{"id": "load", "progress": 1, "state": "done"}]'),
                             (bad, '[{"id": "load", "progress": "most"}]')):
            with sqlite3.connect(path) as conn:  # written by hand, or by a jobdeck that wrote it differently
                conn.execute("UPDATE jobs SET operations = ? WHERE id = ?", (text, job_id.id))
        assert store.require_job(good.id, operations=True).operations is not None
        job = store.require_job(bad.id, operations=True)
        assert (job.id, job.operations) == (bad.id, None)
        assert f"job {bad.id}: its stored operation tree cannot be read" in caplog.text
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE jobs SET operations = 'not json' WHERE id = ?", (bad.id,))
        assert store.require_job(bad.id, operations=True).operations is None
    finally:
        store.close()


def test_a_version_7_file_keeps_its_operation_trees_last_in_the_row(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in STEPS[:7]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 7")
    conn.execute("INSERT INTO jobs (id, job_type, author, status, progress, start_time, last_activity, operations) "
                 "VALUES ('old-7', 'Import', 'admin', 'completed', 1.0, 1000.0, 1000.0, '[\"tree\"]')")
    conn.close()
    store = SQLiteStore(path)
    assert store.require_job("old-7").attempt == 1
    store.close()
    check = sqlite3.connect(path)
    columns = [row[1] for row in check.execute("PRAGMA table_info(jobs)")]
    # The big one last: a head read stops before it (the head's fields are the columns before it).
    assert columns[-1] == "operations" and set(HEAD_FIELDS) <= set(columns[:-1])
    assert check.execute("SELECT operations FROM jobs WHERE id = 'old-7'").fetchone() == ('["tree"]',)
    check.close()


def test_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=rf"schema version {LATEST_VERSION + 5} .* newer jobdeck"):
        SQLiteStore(path)


# ---------------------------------------------------------------------- restarts and killed processes


def test_jobs_and_event_ids_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first = SQLiteStore(path)
    job = first.create_job("T", "me", {"n": 1})
    first.add_info_message(job.id, "before restart")
    first.update_progress(job.id, 0.4)
    cursor = first.read_events().cursor
    first.close()  # flushes the coalesced progress
    second = SQLiteStore(path)
    again = second.require_job(job.id)
    assert again.progress == 0.4 and [m.message for m in again.info_messages] == ["before restart"]
    second.complete_job(job.id)
    batch = second.read_events(cursor)
    assert not batch.reset and [e.type.value for e in batch.events] == ["status"]
    assert int(batch.events[0].id) > int(cursor or "0")
    second.close()


CHILD = textwrap.dedent("""
    import sys
    from jobdeck.stores.sqlite import SQLiteStore

    # Messages are written in batches, tens of thousands a second: a cap far above what the test can see being
    # written keeps "step 0" in the log, so that the log read back must be exactly step 0, 1, 2, ... n.
    store = SQLiteStore(sys.argv[1], max_messages=10_000_000)
    job = store.create_job("Worker", "child", owner="child-host:4242:abc")
    store.heartbeat(job.id, "child-host:4242:abc")
    print(job.id, flush=True)
    i = 0
    while True:  # killed from outside, in the middle of whatever write it is doing
        store.update_progress(job.id, (i % 100) / 100)
        store.add_info_message(job.id, f"step {i}")
        i += 1
""")


def test_sigkilled_writer_loses_nothing_committed_and_gets_reaped(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    watcher = SQLiteStore(path, stale_after=0.5)
    cursor = watcher.read_events().cursor
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        job_id = child.stdout.readline().strip()
        assert job_id, "the child process did not start a job"
        # Events written by another process reach wait_events (by polling the file).
        batch = watcher.wait_events(cursor, timeout=10)
        assert batch.events and batch.events[0].job_id == job_id
        seen = wait_for(lambda: len(watcher.require_job(job_id).info_messages) >= 200, timeout=20,
                        what="the child to write messages")
        assert seen
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    before = len(watcher.require_job(job_id).info_messages)
    watcher.close()

    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()

    fresh = SQLiteStore(path, stale_after=0.5)
    job = fresh.require_job(job_id)
    assert job.status is JobStatus.RUNNING  # nobody said otherwise yet
    messages = [m.message for m in job.info_messages]
    assert len(messages) >= before and messages == [f"step {i}" for i in range(len(messages))]
    reaped = wait_for(fresh.reap_stale, timeout=10, what="the dead child's job to go stale")
    assert reaped == [job_id]
    assert fresh.reap_stale() == []
    failed = fresh.require_job(job_id)
    assert failed.status is JobStatus.FAILED
    assert len(failed.error_messages) == 1 and "child-host:4242:abc" in failed.error_messages[0].message
    fresh.close()
