"""Looking into a Redis broker for the Celery executor's ``lost()``: which queued jobs no message stands for.

kombu keeps a Redis queue as a list (one per priority step: ``name``, ``name\\x06\\x163``, ...) of JSON messages,
and a message delivered to a worker but not yet acknowledged in the ``unacked`` hash until the job ends
(the task is ``acks_late``). A job is lost when its task id is in neither, on two checks in a row: one check
could fall between a worker's pop and its bookkeeping.

This is kombu's private layout, not an API (``kombu/transport/redis.py``), so it is pinned and tested:

- what is relied on: the queue's list is keyed by the queue's name, with one more list per priority step named
  ``<name>\\x06\\x16<step>`` for steps 3, 6 and 9 (``Channel.sep``, ``PRIORITY_STEPS``); a delivered, unacknowledged
  message is a value of the hash ``unacked`` (transport option ``unacked_key``), stored as the JSON list
  ``[message, exchange, routing key]``; a message is Celery's protocol 2 JSON, its task id in ``headers.id``;
- the pin: the ``celery`` extra asks for ``kombu>=5.3,<6`` (tested with kombu 5.7.0);
- the test that catches a change: ``tests/engines/test_celery_redis.py`` puts a job's message in the queue and
  another in a consumer's hands (unacknowledged) on a real Redis, and checks that neither is taken for lost while
  a job whose message was removed is. Were the layout to change, waiting jobs would be failed as lost, and that
  test fails first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..core.model import JobInfo

if TYPE_CHECKING:
    from .celery import CeleryExecutor

__all__ = ["missing_from_redis_broker"]

_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)
REASON = ("the Celery broker holds no message for it (neither waiting in the queue nor delivered to a worker); "
          "it may have been lost when the broker restarted without persistence")


def _task_ids(raw: Iterable[Any], unwrap: bool) -> set[str]:
    found = set()
    for item in raw:
        try:
            message = json.loads(item)
            if unwrap:  # unacked entries are [message, exchange, routing key]
                message = message[0]
            found.add(str(message["headers"]["id"]))
        except (ValueError, KeyError, IndexError, TypeError):
            continue  # not a message of ours (or another protocol): it cannot stand for a job
    return found


def missing_from_redis_broker(executor: CeleryExecutor, jobs: Sequence[JobInfo]) -> dict[str, str]:
    url = str(executor.app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return {}  # AMQP and others cannot be looked into without taking messages: no opinion
    import redis

    options = executor.app.conf.broker_transport_options or {}
    queue = executor.queue or executor.app.conf.task_default_queue or "celery"
    names = [queue if step == 0 else f"{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS]
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        held: set[str] = set()
        for name in names:
            held |= _task_ids(client.lrange(name, 0, -1), unwrap=False)
        held |= _task_ids(client.hvals(options.get("unacked_key", "unacked")), unwrap=True)
    except redis.RedisError:
        return {}  # the broker is away: nothing can be said now
    finally:
        client.close()
    missing = {job.id for job in jobs if job.id not in held}
    before, executor.missing_before = executor.missing_before, missing
    return {job_id: REASON for job_id in missing & before}
