"""The Celery executor's ``lost()`` on a real Redis broker, against kombu's private layout of a queue
(``jobdeck/executors/_celery_redis.py`` says what it relies on; the ``celery`` extra pins kombu below 6).

A job whose message waits in the queue (at the default priority or another one), and a job whose message a
consumer holds unacknowledged, are never lost; a job whose message vanished is, on the second check in a row.
Should kombu change where it keeps them, the first assertions fail here before waiting jobs are failed as lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdeck import JobRunner
from jobdeck.core.model import JobInfo
from jobdeck.executors.celery import TASK_NAME, CeleryExecutor
from jobdeck.stores.sqlite import SQLiteStore

from .conftest import RedisBroker

pytestmark = pytest.mark.redis


@pytest.fixture
def deck(redis_broker: RedisBroker, tmp_path: Path) -> Iterator[tuple[JobRunner, CeleryExecutor, str]]:
    # A database of its own on the session's private broker: other tests' queues and unacked hash stay apart.
    url = f"redis://127.0.0.1:{redis_broker.port}/7"
    queue = f"lost-{tmp_path.name}"
    executor = CeleryExecutor.from_url(f"celery+{url}?queue={queue}")
    store = SQLiteStore(tmp_path / "jobs.db")
    runner = JobRunner(store, executor=executor, reap=False)
    runner.register("t", lambda ctl: None, max_concurrent=10)
    yield runner, executor, queue
    runner.shutdown(0.1)
    store.close()
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def test_lost_sees_waiting_and_delivered_messages_and_names_only_a_vanished_one(
        deck: tuple[JobRunner, CeleryExecutor, str]) -> None:
    import redis

    runner, executor, queue = deck
    delivered = runner.start("t", "tester")
    with executor.app.connection_for_read() as connection:
        consumer = connection.SimpleQueue(queue, no_ack=False)
        message = consumer.get(timeout=10)  # a worker's delivery, not acknowledged: kombu's unacked hash
        assert message.headers["id"] == delivered.id
        waiting = runner.start("t", "tester")
        urgent = runner.start("t", "tester")
        client = redis.Redis.from_url(str(executor.app.conf.broker_url))
        try:
            # jobdeck's own submit uses no priority; an application's routing may: another list of the queue
            client.delete(queue)
            executor.app.send_task(TASK_NAME, (waiting.id,), task_id=waiting.id, queue=queue)
            executor.app.send_task(TASK_NAME, (urgent.id,), task_id=urgent.id, queue=queue, priority=9)
            assert client.llen(queue) == 1 and client.hlen("unacked") == 1
            assert client.llen(f"{queue}\x06\x169") == 1

            jobs: list[JobInfo] = [delivered, waiting, urgent]
            assert executor.lost(jobs) == {}
            assert executor.lost(jobs) == {}  # twice in a row: nothing is missing
            client.delete(queue)  # the waiting message is gone (a broker restart without persistence)
            assert executor.lost(jobs) == {}  # one check is not enough: it could fall between pop and bookkeeping
            lost = executor.lost(jobs)
            assert list(lost) == [waiting.id] and "holds no message" in lost[waiting.id]
        finally:
            client.close()
        message.ack()
        consumer.close()
