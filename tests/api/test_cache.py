"""The serialised-job cache: reused while a job is unchanged, rebuilt on any change, bounded in size."""

from __future__ import annotations

import tracemalloc

import orjson

from jobdeck import MemoryStore
from jobdeck.api._answers import Answer, AnswerCache
from jobdeck.api._cache import JobBytesCache
from jobdeck.core.jsoncodec import dumps


def test_reuses_bytes_until_the_job_changes() -> None:
    store = MemoryStore()
    cache = JobBytesCache()
    job = store.create_job("Manual", "me")
    first = cache.render(store.require_job(job.id), None)
    assert cache.render(store.require_job(job.id), None) is first  # a fresh copy of an unchanged job: cached
    store.update_progress(job.id, 0.5)
    changed = cache.render(store.require_job(job.id), None)
    assert orjson.loads(changed)["progress"] == 0.5
    store.add_info_message(job.id, "hello")
    assert orjson.loads(cache.render(store.require_job(job.id), None))["infoMessages"][0]["message"] == "hello"
    assert orjson.loads(cache.render(store.require_job(job.id), 0))["infoMessages"] == []  # views are separate
    store.heartbeat(job.id, "other-owner")
    assert orjson.loads(cache.render(store.require_job(job.id), None))["owner"] == "other-owner"


def test_a_message_log_at_its_cap_still_shows_the_newest_message() -> None:
    store = MemoryStore(max_messages=2)
    cache = JobBytesCache()
    job = store.create_job("Manual", "me")
    for text in ("a", "b"):
        store.add_info_message(job.id, text)
    cache.render(store.require_job(job.id), None)
    store.add_info_message(job.id, "c")  # same count, oldest dropped
    rendered = orjson.loads(cache.render(store.require_job(job.id), None))
    assert [m["message"] for m in rendered["infoMessages"]] == ["b", "c"]


def test_finished_jobs_render_as_stored_and_the_list_is_valid_json() -> None:
    store = MemoryStore()
    cache = JobBytesCache()
    jobs = [store.create_job("Manual", "me") for _ in range(3)]
    store.complete_job(jobs[0].id, {"n": 1})
    listed = [store.require_job(j.id) for j in jobs]
    assert orjson.loads(cache.render_list(listed, None)) == [j.to_dict() for j in listed]
    assert cache.render_list([], None) == b"[]"
    assert orjson.loads(cache.render(store.require_job(jobs[0].id), None))["result"] == {"n": 1}


def test_total_size_is_bounded() -> None:
    store = MemoryStore()
    cache = JobBytesCache(max_bytes=4000)
    for _ in range(50):
        job = store.create_job("Manual", "me", {"padding": "x" * 200})
        cache.render(store.require_job(job.id), None)
    assert cache.size <= 4000 and 0 < len(cache) < 50


def _allocated(data: bytes) -> int:
    """The size of the memory block holding ``data``, as the allocator gave it (tracemalloc must be tracing)."""
    where = tracemalloc.get_object_traceback(data)
    assert where is not None
    return next(t.size for t in tracemalloc.take_snapshot().traces if t.traceback == where)


def test_cached_bytes_hold_no_more_memory_than_their_length() -> None:
    # orjson hands back its output in the buffer it grew while writing (a 600-byte job can sit in 8 KiB), so a
    # cache bounded by len() would hold several times its bound: what is kept is an exact-size copy.
    store = MemoryStore()
    job = store.create_job("Import", "me", params={"rows": 20})
    for i in range(20):
        store.add_info_message(job.id, f"row {i} imported")
    store.complete_job(job.id)
    tracemalloc.start()
    try:
        answers = AnswerCache()
        cache = JobBytesCache()
        done = store.require_job(job.id)
        kept = cache.render(done, None)
        assert _allocated(kept) <= len(kept) + 64
        answer = Answer(dumps({"jobs": [done.to_dict(None)]}), None, 1, 0.0)
        answers._keep("key", answer)
        assert answer.body == dumps({"jobs": [done.to_dict(None)]})
        assert _allocated(answer.body) <= len(answer.body) + 64
    finally:
        tracemalloc.stop()


def test_entries_nobody_asked_for_within_idle_seconds_go() -> None:
    # Under churn, jobs removed by retention are never asked for again: they must not fill the cache to its bound.
    now = [1000.0]
    store = MemoryStore()
    cache = JobBytesCache(idle=60, clock=lambda: now[0])
    old = store.create_job("Import", "me")
    store.complete_job(old.id)
    cache.render(store.require_job(old.id), None)
    watched = store.create_job("Import", "me")
    store.complete_job(watched.id)
    for _ in range(3):  # a dashboard keeps asking for this one
        now[0] += 30
        cache.render_list([store.require_job(watched.id)], None)
    assert len(cache) == 2  # nothing was added since the old entry went idle: it is still there
    newcomer = store.create_job("Import", "me")
    cache.render(store.require_job(newcomer.id), None)  # adding is when the cold end is looked at
    assert {job_id for job_id, _, _ in cache._entries} == {watched.id, newcomer.id}
    assert cache.size == sum(len(entry[1]) for entry in cache._entries.values())
