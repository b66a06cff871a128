"""The Redis store's kept counts and indexes (stores/_redis_index.py) against a full recount of the jobs, after
real threads (each with its own store object, as separate processes have) and a forked child created, started,
ended, retried, re-ran, resumed, evicted and deleted jobs at once; the one-time build for a prefix written without
them; and the search's two parts (the newest past jobs matched in full, older ones through the indexes)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from jobdeck.core.errors import JobConflictError
from jobdeck.core.model import JobStatus, PastCursor
from jobdeck.stores import _redis_search
from jobdeck.stores._failures import FailureQuery, generic_failure_groups
from jobdeck.stores._search import generic_find_ids
from jobdeck.stores._summary import generic_past_counts
from jobdeck.stores.base import Store
from jobdeck.stores.memory import MemoryStore
from jobdeck.stores.redis import RedisStore
from tests.stores.test_fork_stores import run_in_child

TYPES = ("Import", "Export", "Rebuild:Index")  # a colon in a type: the tally's field splits at the first one
AUTHORS = ("alice", "bob", "Carol Jones")
ERRORS = ("TimeoutError: host {n} did not answer", "ValueError: row {n} has 7 columns", "OSError: disk {n} full")


Opener = Callable[..., RedisStore]


@pytest.fixture
def open_store(redis_url: str, redis_prefix: str) -> Iterator[Opener]:
    """Opens store objects on one private prefix (as separate processes would), closed afterwards."""
    opened: list[RedisStore] = []

    def make(**limits: object) -> RedisStore:
        store = RedisStore(redis_url, prefix=redis_prefix, **limits)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def _recount(store: RedisStore) -> dict[str, object]:
    """What the kept keys must say, counted from the jobs themselves by the generic steps."""
    groups = generic_failure_groups(store, FailureQuery(limit=500, ids=100))
    past = store.get_past_jobs(messages=False)
    active = store.get_active_jobs(messages=False)
    authors: dict[str, set[str]] = {}
    for job in past:
        authors.setdefault(job.author, set()).add(job.id)
    statuses = {s.value: {j.id for j in past if j.status is s} for s in JobStatus if s.is_terminal}
    return {"stats": Store.stats(store), "past": generic_past_counts(store), "statuses": statuses,
            "groups": {g.signature: (g.count, g.first_seen, g.last_seen, g.job_types, g.job_ids) for g in groups},
            "ids": sorted(j.id for j in [*active, *past]), "authors": authors}


def _kept(store: RedisStore) -> dict[str, object]:
    groups = store.failure_groups(limit=500, ids=100)
    client = store._redis
    authors = {a: set(client.zrange(f"{store.prefix}:pauthor:{a}", 0, -1))
               for a in client.hkeys(f"{store.prefix}:authors")}
    counted = {a: int(n) for a, n in client.hgetall(f"{store.prefix}:authors").items()}
    assert counted == {a: len(ids) for a, ids in authors.items()}
    statuses = {s.value: set(client.zrange(f"{store.prefix}:pstatus:{s.value}", 0, -1))
                for s in JobStatus if s.is_terminal}
    return {"stats": store.stats(), "past": store._past_counts(), "statuses": statuses,
            "groups": {g.signature: (g.count, g.first_seen, g.last_seen, g.job_types, g.job_ids) for g in groups},
            "ids": list(client.zrange(f"{store.prefix}:ids", 0, -1)), "authors": authors}


def _churn(store: RedisStore, seed: int, rounds: int, made: list[str]) -> None:
    """A mix of everything that creates, moves or removes jobs, as several processes would do it."""
    rng = random.Random(seed)
    for n in range(rounds):
        job_type, author = rng.choice(TYPES), rng.choice(AUTHORS)
        try:
            job = store.create_job(job_type, author, {"n": n}, queued=rng.random() < 0.4, max_active=6,
                                   max_attempts=2)
        except JobConflictError:
            continue
        made.append(job.id)
        if job.status is JobStatus.QUEUED and store.claim_job(job.id, f"host:{seed}:w") is None:
            continue
        if rng.random() < 0.2 and store.schedule_retry(job.id, time.time(), attempt=1, message="retrying"):
            store.claim_job(job.id, f"host:{seed}:w2")
        roll = rng.random()
        if roll < 0.35:
            store.fail_job(job.id, rng.choice(ERRORS).format(n=n))
        elif roll < 0.45:
            store.request_abort(job.id, "enough", by=author)
            store.mark_aborted(job.id)
        elif roll < 0.9:
            store.complete_job(job.id, {"ok": n})
        # else: left running
        if rng.random() < 0.15:  # a re-run, and a job resumed from this one
            again = store.create_job(job_type, author, rerun_of=job.id, resumed_from=job.id)
            made.append(again.id)
            store.complete_job(again.id)
        if rng.random() < 0.1:
            store.delete_jobs(rng.sample(made, min(5, len(made))))
        if rng.random() < 0.02:
            store.cleanup_past_jobs(rng.choice(TYPES))


def test_kept_counts_equal_a_recount_after_concurrent_changes_of_every_kind(open_store: Opener) -> None:
    make = open_store
    stores = [make(max_past_jobs=40) for _ in range(4)]  # 40 past jobs kept: most ends evict another
    made: list[list[str]] = [[] for _ in stores]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            _churn(stores[i], i, 60, made[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    child_store = make(max_past_jobs=40)
    child_store.stats()  # opened (and indexed) before the fork, like a pre-forking worker pool's store
    outcome = run_in_child(lambda: (_churn(child_store, 99, 40, []), child_store.flush()))
    for thread in threads:
        thread.join(120)
    assert outcome == "ok" and not errors, (outcome, errors)
    reader = make(max_past_jobs=40)
    recount = _recount(reader)
    assert recount["stats"][JobStatus.COMPLETED.value] > 0 and recount["groups"]  # the mix did end jobs
    assert sum(recount["stats"].values()) < sum(len(m) for m in made)  # and evicted or deleted some
    assert _kept(reader) == recount
    assert reader.find_ids(recount["ids"][0][:6]) == generic_find_ids(reader, recount["ids"][0][:6], 10)


def test_kept_counts_are_built_once_for_a_prefix_written_without_them(open_store: Opener) -> None:
    make = open_store
    store = make()
    for n in range(30):
        job = store.create_job(TYPES[n % 3], AUTHORS[n % 3])
        if n % 4 == 0:
            store.fail_job(job.id, ERRORS[n % 3].format(n=n))
        elif n % 4 != 3:
            store.complete_job(job.id)
    expected = _recount(store)
    client = store._redis
    # What a store written by an older jobdeck has: none of the kept keys.
    kept = [k for k in client.scan_iter(match=f"{store.prefix}:*")
            if k.split(":", 2)[1] in ("tally", "ids", "authors", "fails", "pauthor", "fsig", "pstatus")]
    assert kept
    client.delete(*kept)
    # A writer of this jobdeck changes counts before any read built them: the build's recount replaces them.
    late = store.create_job("Import", "alice")
    store.complete_job(late.id)
    fresh = make()
    assert not client.hexists(f"{store.prefix}:tally", "~v")
    after = _recount(fresh)
    assert after["stats"][JobStatus.COMPLETED.value] == expected["stats"][JobStatus.COMPLETED.value] + 1
    assert _kept(fresh) == after
    assert client.hget(f"{store.prefix}:tally", "~v") == "1"


def test_the_search_matches_text_in_the_newest_past_jobs_and_ids_and_authors_in_all(
        open_store: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    make = open_store
    monkeypatch.setattr(_redis_search, "TEXT_WINDOW", 5)
    monkeypatch.setattr(_redis_search, "_PAGE", 2)  # the window and the index reads go over several pages
    store = make()
    old = []
    for n in range(12):  # the oldest 7 are beyond the newest 5
        job = store.create_job("Import", "dora" if n % 2 else "erik", {"batch": f"b{n}"})
        store.add_info_message(job.id, f"needle {n}")
        store.complete_job(job.id)
        old.append(job.id)
    newest_first = list(reversed(old))
    # Params and messages: only the newest five.
    assert [j.id for j in store.search_jobs("needle")] == newest_first[:5]
    assert [j.id for j in store.search_jobs("b11")] == [old[11]]
    assert store.search_jobs("b2") == []
    # Id prefix and author: every past job, through the indexes, in the past list's order.
    assert [j.id for j in store.search_jobs(old[0][:8])] == [old[0]]
    assert [j.id for j in store.search_jobs("dora")] == [i for i in newest_first if old.index(i) % 2]
    assert [j.id for j in store.search_jobs("DOR ora")] == [i for i in newest_first if old.index(i) % 2]
    assert [j.id for j in store.search_jobs("dora", statuses=["failed"])] == []
    # Pages continue across the window's edge without a job twice or missed.
    pages: list[str] = []
    before: PastCursor | None = None
    while True:
        page = store.search_jobs("r", limit=2, before=before)  # "r": both authors
        pages += [j.id for j in page]
        if len(page) < 2:
            break
        before = PastCursor.of(page[-1])
    assert pages == newest_first
    # Words in the job's own fields (a word per field) still need every word to match.
    assert [j.id for j in store.search_jobs(f"dora {old[1][:6]}")] == [old[1]]
    assert store.search_jobs(f"erik {old[1][:6]}") == []


def test_failure_groups_read_only_the_groups_they_answer(open_store: Opener) -> None:
    make = open_store
    store = make(max_past_jobs=6)
    ids = []
    for n in range(10):
        job = store.create_job(TYPES[n % 2], "alice")
        store.fail_job(job.id, f"ValueError: row {n} has 7 columns")
        ids.append(job.id)
    groups = store.failure_groups(ids=3)
    assert [(g.count, g.job_ids, g.job_types) for g in groups] == [(6, ids[::-1][:3], sorted(TYPES[:2]))]
    assert groups[0].message == "ValueError: row 9 has 7 columns"
    assert store.failure_groups(job_type=TYPES[0])[0].count == 3
    store.cleanup_past_jobs()
    assert store.failure_groups() == [] and store._redis.hlen(f"{store.prefix}:fails") == 0
    assert store.stats() == {s.value: 0 for s in JobStatus}



def test_the_search_decided_inside_redis_agrees_with_python_on_text_beyond_ascii(open_store: Opener) -> None:
    """The memory store (the reference) and the Redis store, given the same jobs, find the same ones."""
    answers = []
    for store in (MemoryStore(), open_store()):
        kelvin = store.create_job("Import", "alice", {"unit": "\u212a"})  # KELVIN SIGN: Python lowers it to "k"
        store.add_info_message(kelvin.id, "cooled to 4 \u212a")
        umlaut = store.create_job("Import", "Jörg", {"city": "Köln"})
        store.add_warning_message(umlaut.id, "Straße gesperrt")
        plain = store.create_job("Import", "bob", {"quote": 'say "hi"\\n'})
        store.add_error_message(plain.id, 'Failed: "quoted" and back\\slash')
        for job in (kelvin, umlaut, plain):
            store.complete_job(job.id)
        names = {kelvin.id: "kelvin", umlaut.id: "umlaut", plain.id: "plain"}
        # No word that an id (hex digits) could start with: the two stores' ids differ.
        answers.append({text: sorted(names[j.id] for j in store.search_jobs(text)) for text in (
            "k", "jörg", "köln", "straße", "STRASSE", '"quoted"', "back\\slash", '"hi"', "\\n", "to k", "cooled")})
    assert answers[0] == answers[1]
    assert answers[1]["k"] == ["kelvin", "plain", "umlaut"]  # "k" in the KELVIN SIGN, found inside Redis too
    assert answers[1]["straße"] == ["umlaut"] and answers[1]["to k"] == ["kelvin"]


def test_pages_of_the_scan_step_over_jobs_that_ended_at_the_same_time(open_store: Opener,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_redis_search, "_PAGE", 2)
    store = open_store()
    ids = []
    for _ in range(7):
        job = store.create_job("Import", "alice")
        store.complete_job(job.id)
        ids.append(job.id)
    # Clocks tie: give every one the same end time (in the hash and the sorted sets), as a coarse clock would.
    end = store.require_job(ids[0], messages=False).end_time
    for job_id in ids:
        store._redis.hset(store._job_key(job_id), "end", repr(end))
        for key in (store._set_key("past"), store._set_key("past", "Import")):
            store._redis.zadd(key, {job_id: end})
    expected = sorted(ids, reverse=True)  # the past list's order: end time, then id, newest first
    assert [j.id for j in store.search_jobs(statuses=["completed"], limit=50)] == expected
    pages: list[str] = []
    before: PastCursor | None = None
    while True:
        page = store.search_jobs(statuses=["completed"], limit=3, before=before)
        pages += [j.id for j in page]
        if len(page) < 3:
            break
        before = PastCursor.of(page[-1])
    assert pages == expected


def test_a_search_for_one_status_pages_along_that_status_alone(open_store: Opener,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_redis_search, "_PAGE", 2)
    store = open_store()
    aborted = []
    for n in range(9):
        job = store.create_job(TYPES[n % 2], "alice")
        if n in (0, 4, 5):  # the oldest among them, deep in the history
            store.request_abort(job.id)
            store.mark_aborted(job.id)
            aborted.append(job.id)
        else:
            store.complete_job(job.id)
    assert [j.id for j in store.search_jobs(statuses=["aborted"])] == aborted[::-1]
    # Jobs 0 and 4 are of the first type, 5 of the second.
    assert [j.id for j in store.search_jobs(statuses=["aborted"], job_type=TYPES[0])] == [aborted[1], aborted[0]]
    assert [j.id for j in store.search_jobs("alice", statuses=["aborted"], limit=2)] == aborted[::-1][:2]
    store.delete_jobs([aborted[1]])
    assert [j.id for j in store.search_jobs(statuses=["aborted"])] == [aborted[2], aborted[0]]
