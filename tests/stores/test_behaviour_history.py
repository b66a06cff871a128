"""Reading history, on every backend: pages (``limit``, the ``before`` cursor), filters and message views pushed
into the store's query. The answers must be the same on every store; what they cost is measured in benchmarks/."""

from __future__ import annotations

import time

import pytest

from jobdeck.core.errors import InvalidArgumentError
from jobdeck.core.model import TERMINAL, JobInfo, JobStatus, PastCursor
from jobdeck.stores import Store
from jobdeck.stores.base import MAX_SUMMARY_RUNS

from .conftest import Backend

ENDINGS = ("complete_job", "fail_job", "mark_aborted")


def fill(store: Store, count: int, messages: int = 0) -> list[str]:
    """``count`` past jobs, types A and B alternating, statuses cycling; returns their ids, oldest ended first."""
    ids = []
    for i in range(count):
        job = store.create_job("A" if i % 2 == 0 else "B", "me", {"i": i})
        for m in range(messages):
            store.add_info_message(job.id, f"info {i}.{m}")
        getattr(store, ENDINGS[i % 3])(job.id)
        ids.append(job.id)
    return ids


def walk(store: Store, size: int, **filters: object) -> list[list[JobInfo]]:
    pages = []
    before: PastCursor | None = None
    while True:
        page = store.get_past_jobs(messages=False, limit=size, before=before, **filters)  # type: ignore[arg-type]
        assert len(page) <= size
        pages.append(page)
        if len(page) < size:
            return pages
        before = PastCursor.of(page[-1])


def order_key(job: JobInfo) -> tuple[float, str]:
    return (job.end_time or 0.0, job.id)


def test_past_order_is_end_time_then_id_newest_first(backend: Backend) -> None:
    store = backend.open()
    fill(store, 12)
    jobs = store.get_past_jobs(messages=False)
    assert len(jobs) == 12
    assert [order_key(j) for j in jobs] == sorted((order_key(j) for j in jobs), reverse=True)


def test_walking_pages_returns_every_past_job_once(backend: Backend) -> None:
    store = backend.open()
    ids = fill(store, 23)
    pages = walk(store, 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [j.id for p in pages for j in p] == ids[::-1]
    assert [j.id for j in store.get_past_jobs(messages=False, limit=4)] == ids[::-1][:4]


@pytest.mark.parametrize("filters", [
    {"job_type": "A"},
    {"statuses": ["failed"]},
    {"job_type": "B", "statuses": ["completed", "aborted"]},
])
def test_filters_and_pages_agree_with_the_whole_list(backend: Backend, filters: dict[str, object]) -> None:
    store = backend.open()
    fill(store, 20)
    whole = [j.id for j in store.get_past_jobs(messages=False, **filters)]  # type: ignore[arg-type]
    assert whole and len(whole) < 20
    paged = [j.id for p in walk(store, 3, **filters) for j in p]
    assert paged == whole
    for job in store.get_past_jobs(messages=False, **filters):  # type: ignore[arg-type]
        assert job.job_type == filters.get("job_type", job.job_type)
        assert job.status.value in filters.get("statuses", [job.status.value])  # type: ignore[operator]


def test_start_from_and_cursor_combine(backend: Backend) -> None:
    store = backend.open()
    fill(store, 6)
    middle = store.get_past_jobs(messages=False)[3]
    newer = store.get_past_jobs(messages=False, start_from=middle.end_time)
    assert len(newer) == 3
    first = store.get_past_jobs(messages=False, start_from=middle.end_time, limit=2)
    rest = store.get_past_jobs(messages=False, start_from=middle.end_time, before=PastCursor.of(first[-1]))
    assert [j.id for j in first + rest] == [j.id for j in newer]


def test_cursor_holds_its_place_while_jobs_end_and_go(backend: Backend) -> None:
    store = backend.open()
    ids = fill(store, 10)
    page = store.get_past_jobs(messages=False, limit=4)
    cursor = str(PastCursor.of(page[-1]))  # as a client would carry it
    fill(store, 3)  # newer jobs end: they belong before the cursor, not after
    store.cleanup_past_jobs("nothing-of-this-type")
    rest = store.get_past_jobs(messages=False, before=cursor)
    assert [j.id for j in rest] == ids[::-1][4:]


def test_message_views_read_the_newest_of_each_kind(backend: Backend) -> None:
    store = backend.open()
    job = store.create_job("T", "me")
    for i in range(7):
        store.add_info_message(job.id, f"i{i}")
    store.add_warning_message(job.id, "w0")
    store.add_warning_message(job.id, "w1")
    active = store.get_active_jobs(messages=2)[0]
    assert [m.message for m in active.info_messages] == ["i5", "i6"]
    assert [m.message for m in active.warning_messages] == ["w0", "w1"]
    assert [m.message for m in store.require_job(job.id, messages=1).info_messages] == ["i6"]
    assert store.require_job(job.id, messages=False).info_messages == []
    assert store.require_job(job.id, messages=0).warning_messages == []
    store.fail_job(job.id, "broke")
    past = store.get_past_jobs(messages=3)[0]
    assert [m.message for m in past.info_messages] == ["i4", "i5", "i6"]
    assert [m.message for m in past.error_messages] == ["broke"]
    assert len(store.get_past_jobs(messages=True)[0].info_messages) == 7
    bare = store.get_past_jobs(messages=False)[0]
    assert bare.info_messages == bare.warning_messages == bare.error_messages == []


def test_message_view_pages_with_many_jobs(backend: Backend) -> None:
    store = backend.open()
    fill(store, 9, messages=4)
    page = store.get_past_jobs(messages=1, limit=5)
    assert len(page) == 5
    for job in page:
        assert [m.message for m in job.info_messages] == [f"info {job.params['i']}.3"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"limit": 0}, "limit"),
    ({"limit": -3}, "limit"),
    ({"limit": True}, "limit"),
    ({"limit": "5"}, "limit"),
    ({"before": "yesterday"}, "cursor"),
    ({"before": "1.5_not-a-uuid"}, "cursor"),
    ({"before": "nan_3f2a4f0e-0c5b-4c1e-9a57-1f1b1f0f0f0f"}, "cursor"),
    ({"before": 17}, "before"),
    ({"messages": -1}, "messages"),
    ({"messages": "last:3"}, "messages"),
])
def test_bad_page_arguments_are_clear_errors(store: Store, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        store.get_past_jobs(**kwargs)  # type: ignore[arg-type]


def test_cursor_text_round_trips() -> None:
    cursor = PastCursor(time.time(), "3f2a4f0e-0c5b-4c1e-9a57-1f1b1f0f0f0f")
    assert PastCursor.parse(str(cursor)) == cursor
    with pytest.raises(ValueError, match="still active"):
        PastCursor.of(JobInfo(id=cursor.id, job_type="T", author="me", status=JobStatus.RUNNING))


def expected_counts(count: int) -> dict[str, dict[JobStatus, int]]:
    """What ``fill(store, count)`` leaves: per type, jobs per terminal status."""
    out: dict[str, dict[JobStatus, int]] = {t: {s: 0 for s in TERMINAL} for t in ("A", "B")}
    for i in range(count):
        status = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED)[i % 3]
        out["A" if i % 2 == 0 else "B"][status] += 1
    return out


def test_past_summary_counts_per_type_and_status_with_the_newest_runs(backend: Backend) -> None:
    store = backend.open()
    assert store.past_summary() == []
    ids = fill(store, 14, messages=2)
    store.create_job("A", "me")  # active: neither counted nor listed
    store.create_job("C", "me")  # a type with no past job has no summary
    summaries = store.past_summary(runs=3)
    assert [s.job_type for s in summaries] == ["A", "B"]
    want = expected_counts(14)
    for summary in summaries:
        assert summary.counts == want[summary.job_type]
        assert summary.total == 7
        newest = [i for n, i in enumerate(ids) if ("A" if n % 2 == 0 else "B") == summary.job_type][::-1][:3]
        assert [j.id for j in summary.recent] == newest
        assert all(not j.info_messages and j.status.is_terminal for j in summary.recent)
    assert [s.recent for s in store.past_summary(runs=0)] == [[], []]
    assert [len(s.recent) for s in store.past_summary(runs=50)] == [7, 7]


def test_past_summary_follows_retention_and_refuses_bad_runs(backend: Backend) -> None:
    store = backend.open(max_past_jobs=5)
    fill(store, 9)
    summaries = store.past_summary()
    assert sum(s.total for s in summaries) == 5
    assert sum(len(s.recent) for s in summaries) == 5
    for bad in (-1, MAX_SUMMARY_RUNS + 1, 2.5, True, "3"):
        with pytest.raises(InvalidArgumentError):
            store.past_summary(runs=bad)  # type: ignore[arg-type]
