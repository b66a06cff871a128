"""The Redis store's WATCH/MULTI retry loop under real contention on a real Redis: concurrent changes of one job
from several store objects lose no update, and a job that is written without pause during every attempt ends in
a clear StoreError within a bound instead of a loop without end."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from jobdeck.core.errors import StoreError
from jobdeck.core.model import JobInfo, JobMessage
from jobdeck.stores.redis import RedisStore

pytestmark = pytest.mark.redis


def test_concurrent_changes_of_one_job_lose_nothing(redis_url: str, redis_prefix: str) -> None:
    stores = [RedisStore(redis_url, prefix=redis_prefix) for _ in range(6)]
    try:
        job = stores[0].create_job("Contended", "me")

        def bump(item: JobInfo, now: float) -> list[JobMessage]:
            item.progress = round(item.progress + 0.01, 2)
            return []

        def worker(store: RedisStore) -> None:
            for _ in range(10):
                assert store._change(job.id, bump, False)

        threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert stores[0].require_job(job.id, messages=False).progress == 0.6  # 6 x 10 increments, none lost
    finally:
        for store in stores:
            store.close()


def test_a_job_changed_during_every_attempt_gives_a_clear_error_in_bounded_time(redis_url: str,
                                                                               redis_prefix: str) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    other = redis.Redis.from_url(redis_url)  # another client, as another process would be
    stop = threading.Event()
    calls = [0]
    try:
        job = store.create_job("Contended", "me")
        key = f"{redis_prefix}:job:{job.id}"

        def contended(item: JobInfo, now: float) -> list[JobMessage]:
            # Between this change's read (under WATCH) and its write, the other client writes the job: in every
            # attempt, until the test lets it through.
            calls[0] += 1
            if not stop.is_set():
                other.hset(key, "x-other", calls[0])
            item.progress = 0.5
            return []

        outcome: list[BaseException | bool] = []

        def change() -> None:
            try:
                outcome.append(store._change(job.id, contended, False))
            except BaseException as exc:  # the test looks at what it was
                outcome.append(exc)

        changer = threading.Thread(target=change, daemon=True)
        started = time.monotonic()
        changer.start()
        changer.join(15)
        took = time.monotonic() - started
        stop.set()  # without a bound, the loop ends now
        changer.join(5)
        assert took < 15, "the change was still retrying after 15 s"
        assert isinstance(outcome[0], StoreError), outcome
        assert "was changed by others during each of 40 attempts" in str(outcome[0]) and calls[0] == 40
        assert store.require_job(job.id, messages=False).progress == 0.0  # nothing was changed
        assert store._change(job.id, contended, False)  # without the contention it goes through
        assert store.require_job(job.id, messages=False).progress == 0.5
    finally:
        stop.set()
        other.close()
        store.close()
