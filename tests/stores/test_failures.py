"""Failure groups on every backend: the signature written when a job fails, and failed jobs grouped by it."""

from __future__ import annotations

import time

import pytest

from jobdeck.core.errors import InvalidArgumentError
from jobdeck.stores import Store
from tests.stores.conftest import Backend


def _fail(store: Store, job_type: str, message: str | None) -> str:
    job = store.create_job(job_type, "admin")
    store.fail_job(job.id, message)
    return job.id


def test_a_failed_job_carries_its_signature_and_others_none(store: Store) -> None:
    failed = _fail(store, "Import", "KeyError: 'user_42'")
    done = store.create_job("Import", "admin")
    store.complete_job(done.id)
    assert store.require_job(failed, messages=False).signature == "KeyError: '<str>'"
    assert store.require_job(done.id, messages=False).signature is None
    assert store.get_past_jobs(messages=False)[1].signature == "KeyError: '<str>'"  # lists carry it too
    assert store.require_job(failed).to_dict()["signature"] == "KeyError: '<str>'"


def test_groups_count_by_signature_newest_group_first(store: Store) -> None:
    a = [_fail(store, "Import", f"ValueError: row {n} is malformed") for n in range(3)]
    b = [_fail(store, "Export", f"TimeoutError: host 10.0.0.{n} did not answer") for n in range(2)]
    a.append(_fail(store, "Export", "ValueError: row 99 is malformed"))  # the ValueError group is newest again
    done = store.create_job("Import", "admin")
    store.complete_job(done.id)
    groups = store.failure_groups()
    assert [(g.signature, g.count) for g in groups] == [
        ("ValueError: row <n> is malformed", 4), ("TimeoutError: host <n> did not answer", 2)]
    first = groups[0]
    assert first.job_ids == list(reversed(a)) and first.job_types == ["Export", "Import"]
    assert first.message == "ValueError: row 99 is malformed"  # the newest one's message
    assert first.first_seen <= first.last_seen
    assert first.first_seen == store.require_job(a[0], messages=False).end_time
    assert first.last_seen == store.require_job(a[-1], messages=False).end_time
    assert groups[1].job_ids == list(reversed(b)) and groups[1].job_types == ["Export"]
    assert groups[0].to_dict()["jobIds"] == list(reversed(a)) and groups[0].to_dict()["count"] == 4


def test_groups_filter_by_type_and_since_and_bound_ids(store: Store) -> None:
    old = [_fail(store, "Import", f"OSError: disk {n} full") for n in range(5)]
    cut = time.time()
    while time.time() <= cut:  # the next end time is strictly after the cut, on every clock
        pass
    new = [_fail(store, "Import", f"OSError: disk {n} full") for n in range(2)]
    _fail(store, "Export", "OSError: disk 9 full")
    assert [g.count for g in store.failure_groups(job_type="Import")] == [7]
    assert [g.count for g in store.failure_groups(since=cut, job_type="Import")] == [2]
    assert store.failure_groups(since=cut, job_type="Import")[0].job_ids == list(reversed(new))
    bounded = store.failure_groups(job_type="Import", ids=3)[0]
    assert bounded.count == 7 and bounded.job_ids == [*reversed(new), old[-1]]
    assert store.failure_groups(limit=0) == []
    assert store.failure_groups(since=time.time() + 60) == []


def test_group_limit_keeps_the_newest_groups(store: Store) -> None:
    for kind in ("KeyError", "ValueError", "OSError"):
        _fail(store, "Import", f"{kind}: boom")
    assert [g.signature for g in store.failure_groups(limit=2)] == ["OSError: boom", "ValueError: boom"]


def test_failure_without_message_and_reaped_job_are_grouped(backend: Backend) -> None:
    store = backend.open(stale_after=0.05)
    silent = _fail(store, "Import", None)
    stale = store.create_job("Import", "admin", owner="host:1:dead")
    deadline = time.monotonic() + 5
    while stale.id not in store.reap_stale():
        assert time.monotonic() < deadline
    signatures = {g.signature: g.job_ids for g in store.failure_groups()}
    assert signatures["(no error message)"] == [silent]
    reaped = store.require_job(stale.id, messages=False).signature
    assert reaped is not None and signatures[reaped] == [stale.id]


@pytest.mark.parametrize("kwargs", [{"limit": -1}, {"limit": 501}, {"ids": 101}, {"ids": True},
                                    {"since": "yesterday"}, {"job_type": "a\x00b"}])
def test_bad_arguments_are_refused(store: Store, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        store.failure_groups(**kwargs)  # type: ignore[arg-type]


def test_the_signature_survives_reopening(shared_backend: Backend) -> None:
    first = shared_backend.open()
    job_id = _fail(first, "Import", "ValueError: row 3")
    other = shared_backend.open()
    assert other.require_job(job_id, messages=False).signature == "ValueError: row <n>"
    assert [g.job_ids for g in other.failure_groups()] == [[job_id]]


def test_delete_jobs_removes_finished_ones_only(backend: Backend) -> None:
    store = backend.open()
    done = [_fail(store, "Import", "ValueError: x") for _ in range(3)]
    active = store.create_job("Import", "admin")
    gone = store.delete_jobs([done[1], active.id, "00000000-0000-4000-8000-000000000000", done[0], done[1]])
    assert gone == [done[1], done[0]]
    assert store.get_job(done[0]) is None and store.get_job(done[1]) is None
    assert store.require_job(active.id, messages=False).is_active and store.get_job(done[2]) is not None
    assert [g.job_ids for g in store.failure_groups()] == [[done[2]]]
    assert [j.id for j in store.get_past_jobs(messages=False)] == [done[2]]
    assert store.delete_jobs([]) == []
    with pytest.raises(InvalidArgumentError):
        store.delete_jobs(["x\x00"])
    if backend.shared:  # another store object (another process) sees them gone
        assert backend.open().get_job(done[0]) is None


def test_search_narrows_to_one_signature(store: Store) -> None:
    keys = [_fail(store, "Import", f"KeyError: 'k{n}'") for n in range(3)]
    _fail(store, "Import", "ValueError: 7")
    found = store.search_jobs(None, signature="KeyError: '<str>'", limit=2)
    assert [j.id for j in found] == [keys[2], keys[1]]  # a page of two, newest ended first
    assert store.search_jobs("k1", signature="ValueError: <n>") == []
    assert store.search_jobs(None, signature="nothing like it") == []
