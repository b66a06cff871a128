"""The PostgreSQL store's pool under bad values and fork(): a connection that saw an error is never handed out
again, a value the server refuses is that value's problem (not an outage), ``ping`` goes through the pool, and a
forked child works on connections of its own without touching its parent's."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from jobdeck.core.errors import InvalidArgumentError, StoreError
from jobdeck.core.model import JobInfo, JobMessage, JobStatus, MessageType
from jobdeck.stores import _pg_connect
from jobdeck.stores.postgres import PostgresStore
from tests.conftest import wait_for

pytestmark = pytest.mark.postgres



@pytest.fixture
def store(postgres_url: str, schema: str) -> Iterator[PostgresStore]:
    s = PostgresStore(postgres_url, schema=schema)
    yield s
    s.close()


def _healthy_job(store: PostgresStore) -> None:
    job = store.create_job("Plain", "me", {"n": 1})
    store.add_info_message(job.id, "working")
    store.update_progress(job.id, 0.5)
    store.complete_job(job.id, {"ok": True})
    assert store.require_job(job.id).status is JobStatus.COMPLETED
    store.get_active_jobs()
    store.search_jobs("plain")


def _refused_steps(store: PostgresStore) -> list[Callable[[], object]]:
    """Steps with a value the server cannot take, sent past the public methods' checks (which keep NUL out) into
    the backend's own steps, as any value the server refuses would arrive: a message written at once, a state
    change with its message (the step fail_job takes), and statements inside a pipeline and on their own."""
    q = store._q
    job = store.create_job("Plain", "me")

    def fail_saying_nul(head: JobInfo, now: float) -> list[JobMessage]:
        head.status, head.end_time = JobStatus.FAILED, now
        return [JobMessage(MessageType.ERROR, "RuntimeError: x\x00y", now)]

    return [
        lambda: store._add_message(job.id, JobMessage(MessageType.INFO, "m\x00n", time.time())),  # the first: at once
        lambda: store._change(job.id, fail_saying_nul, True),
        lambda: store._run(lambda c: c.execute(q.status, ("a\x00b",)).fetchall()),  # refused by the client encoder
        lambda: store._run(lambda c: (c.execute(q.status, ("x",)), c.execute(q.read, ("a\x00b",)).fetchall())),
        lambda: store._run(lambda c: c.execute(b"SELECT convert_from('\\x610062'::bytea, 'UTF8')").fetchall()),
        lambda: store._pool_one(q.status, ("a\x00b",)),
    ]


def test_a_value_the_server_refuses_is_that_values_problem_not_an_outage(store: PostgresStore) -> None:
    for step in _refused_steps(store):
        with pytest.raises(InvalidArgumentError, match=r"NUL|UTF8|0x00") as refused:
            step()
        assert not isinstance(refused.value, StoreError)
        assert "cannot be stored" in str(refused.value)


@pytest.mark.slow
def test_an_error_inside_a_pipeline_leaves_no_broken_connection_behind(store: PostgresStore) -> None:
    """Before the fix the pool kept such a connection, and most later steps failed with ``prepared statement
    "_pg3_N" does not exist`` (190 of 200 in the reproduction)."""
    failed: list[str] = []
    for _ in range(20):  # past psycopg's prepare threshold, on every pooled connection
        for step in _refused_steps(store):
            with pytest.raises((InvalidArgumentError, StoreError)):
                step()
        try:
            _healthy_job(store)
        except Exception as exc:  # counted, not raised: the test says how many
            failed.append(f"{type(exc).__name__}: {exc}")
    for _ in range(50):
        try:
            _healthy_job(store)
        except Exception as exc:
            failed.append(f"{type(exc).__name__}: {exc}")
    assert failed == [], f"{len(failed)} healthy steps failed, first: {failed[0]}"
    store.ping()


def test_a_refusal_of_jobdecks_own_keeps_the_connection(store: PostgresStore) -> None:
    """Only errors that are not a clean rollback cost a connection: a conflict (max_active) rolls back and the
    same server session serves the next step."""
    first = store.create_job("One", "me", max_active=1)
    pool = store._pool._connections()
    # The pool counts a connection handed back closed as "returns_bad" (it then opens another). Comparing server
    # pids instead would race: the pool may grow while a background thread of the store holds a connection.
    bad_before = pool.get_stats().get("returns_bad", 0)
    for _ in range(10):
        with pytest.raises(Exception, match="already has 1 active"):
            store.create_job("One", "me", max_active=1)
    assert pool.get_stats().get("returns_bad", 0) == bad_before
    store.complete_job(first.id)


def test_ping_is_a_step_through_the_pool(postgres_url: str, schema: str) -> None:
    store = PostgresStore(postgres_url, schema=schema, connect_timeout=1)
    store.ping()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.ping()


# ---------------------------------------------------------------------- fork


def _in_child(body: Callable[[], bool]) -> None:
    """Run ``body`` in a forked child; the test fails unless it returns True."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status only
        code = 1
        try:
            code = 0 if body() else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the check in the forked child failed (its output is above)"


def _sessions(store: PostgresStore) -> set[int]:
    """The server sessions of the store's pooled connections (every one of them, busy at once)."""
    conns = store._pool._connections()
    held: list[Any] = []
    try:
        while True:
            try:
                held.append(conns.getconn(timeout=0.2))
            except Exception:
                break
        return {conn.info.backend_pid for conn in held}
    finally:
        for conn in held:
            conns.putconn(conn)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_works_on_its_own_connections_and_the_parent_keeps_its_own(
        postgres_url: str, schema: str) -> None:
    store = PostgresStore(postgres_url, schema=schema, pool_size=3)
    try:
        job = store.create_job("Forked", "parent")
        store.add_info_message(job.id, "before the fork")
        store.wait_events(store.read_events().cursor, 0.05)  # the listening thread runs in the parent too
        wait_for(lambda: len(_sessions(store)) == 3, what="the pool to hold its three connections")
        parents = _sessions(store)

        def child() -> bool:
            mine = store._run(lambda c: c.info.backend_pid)
            forked = store.create_job("Forked", "child")
            store.add_info_message(forked.id, "in the child")
            store.update_progress(forked.id, 0.5)
            store.complete_job(forked.id, {"pid": os.getpid()})
            cursor = store.read_events().cursor
            other = PostgresStore(postgres_url, schema=schema)
            other.add_info_message(job.id, "seen by the child's listener")
            woke = store.wait_events(cursor, 10).events
            other.close()
            # The worst a child can do to what it inherited: close it, as freeing it at exit would.
            for item in list(_pg_connect._inherited):
                if isinstance(item, psycopg.Connection):
                    item.close()
            return (mine not in parents and bool(woke)
                    and store.require_job(forked.id).status is JobStatus.COMPLETED)

        _in_child(child)
        # The parent's sessions are the ones it had: nothing the child did reached them.
        assert _sessions(store) == parents
        assert store.add_info_message(job.id, "after the fork")
        assert store.complete_job(job.id)
        done = store.require_job(job.id)
        assert [m.message for m in done.info_messages] == [
            "before the fork", "seen by the child's listener", "after the fork"]
        assert len(store.get_past_jobs(messages=False)) == 2
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_while_a_step_runs_still_works(store: PostgresStore) -> None:
    """A fork while another thread of the parent holds a connection (and the pool's locks): the child neither
    waits for them nor uses that connection."""
    import threading

    started, release = threading.Event(), threading.Event()

    def long_step(conn: psycopg.Connection[Any]) -> None:
        conn.execute(b"SELECT 1").fetchall()
        started.set()
        release.wait(10)

    wait_for(lambda: len(_sessions(store)) == 4, what="the pool to hold its four connections")
    parents = _sessions(store)
    busy = threading.Thread(target=lambda: store._run(long_step))
    busy.start()
    try:
        assert started.wait(10)
        deadline = time.monotonic() + 20

        def child() -> bool:
            mine = store._run(lambda c: c.info.backend_pid)
            job = store.create_job("Forked", "child")
            return mine not in parents and store.complete_job(job.id) and time.monotonic() < deadline

        _in_child(child)
    finally:
        release.set()
        busy.join(10)
    assert store.get_past_jobs(messages=False)[0].author == "child"
