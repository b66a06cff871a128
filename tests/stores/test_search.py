"""Finding jobs on every backend: id prefixes, and search by id prefix, author, params and message words."""

from __future__ import annotations

import pytest

from jobdeck.core.errors import AmbiguousJobIdError, JobNotFoundError
from jobdeck.core.model import JobInfo, JobStatus, PastCursor
from jobdeck.stores import Store


def _ended(store: Store, job_type: str, author: str, params: object, message: str, fail: bool = False) -> str:
    job = store.create_job(job_type, author, params)
    store.add_info_message(job.id, message)
    if fail:
        store.fail_job(job.id, "ValueError: row 12: malformed date")
    else:
        store.complete_job(job.id, {"ok": True})
    return job.id


def test_resolve_id_by_unique_prefix(store: Store) -> None:
    job = store.create_job("Import", "admin")
    assert store.resolve_id(job.id[:6]) == job.id
    assert store.resolve_id(job.id[:8].upper()) == job.id
    assert store.resolve_id(job.id) == job.id
    assert store.find_ids(job.id[:6]) == [job.id]
    with pytest.raises(JobNotFoundError, match="no job id starts with"):
        store.resolve_id("ffffff" if not job.id.startswith("ffffff") else "000000")
    with pytest.raises(ValueError, match="at least 6"):
        store.resolve_id(job.id[:5])
    with pytest.raises(ValueError, match="at least 6"):
        store.resolve_id("zzzzzzzz")


def test_ambiguous_prefix_lists_the_candidates(store: Store) -> None:
    # Random ids share 6 leading characters once in ~16 million: write two that do through the insert step.
    ids = ["abcdef01-0000-4000-8000-000000000001", "abcdef02-0000-4000-8000-000000000002"]
    for job_id in ids:
        store._insert(JobInfo(id=job_id, job_type="Import", author="admin"), None)
    with pytest.raises(AmbiguousJobIdError) as caught:
        store.resolve_id("abcdef")
    assert caught.value.candidates == ids
    assert "abcdef01-0000" in str(caught.value) and "abcdef02-0000" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert store.resolve_id("abcdef02") == ids[1]
    assert store.find_ids("abcdef", limit=1) == ids[:1]


def test_search_matches_id_author_params_and_messages(store: Store) -> None:
    a = _ended(store, "Import", "maria@example.org", {"file": "orders.csv"}, "Loaded 37 comments")
    b = _ended(store, "Import", "sam@example.org", {"file": "users.csv"}, "Skipped duplicate row", fail=True)
    c = store.create_job("Cleanup", "maria@example.org", {"days": 30})
    store.add_warning_message(c.id, "Drafts folder is LARGE")
    store.flush()

    def ids(text: str | None = None, **kw: object) -> list[str]:
        return [job.id for job in store.search_jobs(text, **kw)]  # type: ignore[arg-type]

    assert ids(a[:8]) == [a]
    assert ids("maria") == [c.id, a]            # active first, then past newest ended first
    assert ids("orders.csv") == [a]
    assert ids("comments") == [a]
    assert ids("large") == [c.id]               # case-insensitive, warnings too
    assert ids("maria comments") == [a]         # every word must match (here: author and a message)
    assert ids("maria duplicate") == []
    assert ids("malformed") == [b]              # the failure's error message
    assert ids(None) == [c.id, b, a]
    assert ids(job_type="Import") == [b, a]
    assert ids(statuses=["failed"]) == [b]
    assert ids(statuses=[JobStatus.RUNNING]) == [c.id]
    assert ids("nowhere-to-be-found") == []
    hit = store.search_jobs("comments")[0]
    assert hit.info_messages == [] and hit.params == {"file": "orders.csv"}


def test_search_pages_past_jobs_with_a_keyset_cursor(store: Store) -> None:
    made = [_ended(store, "Import", "ops", {"n": i}, f"batch {i}") for i in range(5)]
    store.create_job("Import", "ops")  # active: only on the first page
    first = store.search_jobs("ops", limit=2)
    assert first[0].is_active and [j.id for j in first[1:]] == [made[4], made[3]]
    seen = [j.id for j in first if not j.is_active]
    cursor = first[-1]
    while True:
        assert cursor.end_time is not None
        page = store.search_jobs("ops", limit=2, before=PastCursor.of(cursor))
        assert all(not j.is_active for j in page)
        seen += [j.id for j in page]
        if len(page) < 2:
            break
        cursor = page[-1]
    assert seen == made[::-1]


def test_search_refuses_bad_input(store: Store) -> None:
    with pytest.raises(ValueError, match="words"):
        store.search_jobs(" ".join(f"w{i}" for i in range(20)))
    with pytest.raises(ValueError, match="unknown status"):
        store.search_jobs(statuses=["sleeping"])
    with pytest.raises(ValueError, match="limit"):
        store.search_jobs(limit=0)
    # LIKE wildcards are plain characters.
    _ended(store, "Import", "ops", {"pct": "100%"}, "done")
    assert len(store.search_jobs("100%")) == 1
    assert store.search_jobs("%") and store.search_jobs("_") == []
