"""The Redis store: jobs shared by many processes and machines (``pip install 'jobdeck[redis]'``).

    store = RedisStore("redis://localhost:6379/0", prefix="jobdeck")   # or open_store("redis://...?prefix=x")

Every step that touches several keys is atomic: creating a job (with its ``max_active`` check), progress and
batches of messages run as Lua scripts; state changes, whose rules live in Python (:class:`~jobdeck.stores.base.Store`),
read the job under ``WATCH`` (both in one round trip) and write it back in ``MULTI``/``EXEC``, retrying (a bounded
number of times, with a jittered backoff, then a ``StoreError``) when another process changed the job in between --
so two processes cannot both start the last free slot, and two reapers cannot both fail a job.
The change log is a Redis Stream; its entry ids are the event ids and ``wait_events`` blocks in ``XREAD``.
Progress writes are coalesced and messages are written in batches, one Lua call every few milliseconds
(:class:`~jobdeck.stores._buffered.BufferedStore`, shared with the SQLite store). Everything is stored
as strings and JSON, never pickle. The key layout is described in ``_redis_scripts``, the encoding in
``_redis_codec``. Counts per type and status, failure groups, and ids, authors and statuses to look jobs up by are
kept beside the jobs in the same atomic steps (``_redis_index``), so that no read looks at the whole history.

After ``fork()``, a store object the child inherited is usable there: redis-py's connection pool notices the new
process id on its next use and opens new connections (it never closes the parent's sockets, which the child
merely drops), and the write buffers start their threads again with fresh locks (``_flusher``).
``tests/stores/test_fork_stores.py`` forks children that use the store while a thread of the parent does too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from ..core.backoff import delay
from ..core.errors import JobConflictError, StoreError
from ..core.events import EventBatch, EventType, job_data, message_data
from ..core.jsoncodec import dumps_text
from ..core.model import JobInfo, JobMessage, JobStatus, MessageType, OperationRef
from ..core.operations import OperationTree
from . import _redis_scripts as scripts
from ._buffer import DEFAULT_INTERVAL, Write
from ._buffered import BufferedStore
from ._redis_bulk import RedisBulkSteps
from ._redis_codec import STREAM_ID, decode_job, encode_job, event_from_entry, parse_id, parse_id_strict
from ._redis_connect import connect, glob_escape, redact, split_prefix
from ._redis_counts import RedisCountSteps
from ._redis_index import TALLY
from ._redis_limits import RedisLimits
from ._redis_saved import RedisSaved
from ._redis_schedules import REPLACE as _SCHEDULE_REPLACE
from ._redis_schedules import RedisSchedules
from ._redis_search import RedisSearchSteps
from ._redis_workers import RedisWorkers
from .base import Applied, Change, PastQuery

__all__ = ["RedisStore"]

_KINDS = tuple(MessageType)
_MAX_BLOCK = 5.0  # one XREAD BLOCK stays well inside the socket timeout; callers simply wait again
# Bounds on one read's round trip (see _read_many): job heads alone, jobs with all their messages (up to
# 3 x max_messages each), and messages when only the newest N of each kind are read.
_HEADS_PER_TRIP = 200
_FULL_PER_TRIP = 4
_MESSAGES_PER_TRIP = 6000
# A state change reads the job under WATCH and writes it in MULTI/EXEC; when another client wrote the job in
# between (a progress write, another change), it reads again, up to this many times, pausing a random part of a
# doubling bound (first, longest: core.backoff.delay with jitter) between attempts: about a second in all before
# it gives up with a StoreError.
_WATCH_ATTEMPTS = 40
_WATCH_PAUSE = (0.002, 0.05)



class RedisStore(RedisCountSteps, RedisSearchSteps, RedisBulkSteps, BufferedStore):
    """Jobs in Redis under ``prefix``.
    ``RedisStore(url, prefix="jobdeck", progress_interval=0.05, message_interval=0.005, **limits)``."""

    scheme = "redis"

    def __init__(self, url: str, *, prefix: str | None = None, progress_interval: float = 0.05,
                 message_interval: float = DEFAULT_INTERVAL, connect_timeout: float = 2.0,
                 socket_timeout: float = 10.0, **limits: Any) -> None:
        super().__init__(progress_interval=progress_interval, message_interval=message_interval, **limits)
        url, url_prefix = split_prefix(url)
        prefix = prefix if prefix is not None else url_prefix or "jobdeck"
        if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
            raise StoreError(f"Redis key prefix must be a non-empty word, got {prefix!r}")
        self.prefix = prefix
        self.url = redact(url)
        self._redis = connect(url, self.url, connect_timeout, socket_timeout)
        self._insert_script = self._redis.register_script(scripts.INSERT)
        self._progress_script = self._redis.register_script(scripts.PROGRESS)
        self._message_script = self._redis.register_script(scripts.MESSAGE)
        self._messages_script = self._redis.register_script(scripts.MESSAGES)
        self._delete_script = self._redis.register_script(scripts.DELETE_PAST)
        self._save_script = self._redis.register_script(scripts.SAVE)
        self._schedule_script = self._redis.register_script(_SCHEDULE_REPLACE)
        self._events_key = f"{prefix}:events"

    def __repr__(self) -> str:
        return f"<RedisStore {self.url} prefix={self.prefix!r}>"

    # ------------------------------------------------------------------ keys and encoding

    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _msgs_key(self, job_id: str, kind: MessageType) -> str:
        return f"{self.prefix}:msgs:{job_id}:{kind.value}"

    def _ops_key(self, job_id: str) -> str:
        return f"{self.prefix}:ops:{job_id}"

    def _set_key(self, which: str, job_type: str | None = None) -> str:
        return f"{self.prefix}:{which}" if job_type is None else f"{self.prefix}:{which}:{job_type}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        if self._closed:
            raise StoreError(f"Redis store {self.url} (prefix {self.prefix!r}) is closed")
        try:
            yield
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self.url}: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ steps

    def _insert(self, job: JobInfo, max_active: int | None) -> None:
        fields, _ = encode_job(job)
        flat = [x for pair in fields.items() for x in pair]
        with self._errors():
            ok, value = self._insert_script(
                keys=[self._job_key(job.id), self._set_key("active"), self._set_key("active", job.job_type),
                      self._events_key, self._set_key("tally"), self._set_key("ids")],
                args=[-1 if max_active is None else max_active, repr(job.start_time), job.id, self.max_events,
                      dumps_text(job_data(job)), f"{job.status.value}:{job.job_type}", *flat])
        if ok == 2:
            raise JobConflictError(job.job_type, 0, [job.id], f"a job with id {job.id} exists already")
        if not ok:
            raise JobConflictError(job.job_type, max_active or 0, list(value))
        self._status_seen(job.id, job.status)

    def _read(self, job_id: str, keep: int | None) -> JobInfo | None:
        self._catch_up(job_id)
        with self._errors():
            found = self._read_many([job_id], keep)
        return found[0] if found else None

    def _read_operations(self, job_id: str) -> OperationTree | None:
        self._catch_up(job_id)
        with self._errors():
            text = self._redis.get(self._ops_key(job_id))
        return OperationTree.from_json(text)

    def _read_many(self, ids: list[str], keep: int | None) -> list[JobInfo]:
        """Each job with its newest ``keep`` messages (None: all, 0: none) read in one MULTI, so no job is seen
        half-changed; gone ids are skipped. Jobs go in groups, so that one round trip carries a bounded amount:
        Redis serves one command at a time, and a huge reply would hold up every writer behind it."""
        jobs = []
        size = _HEADS_PER_TRIP if keep == 0 else _FULL_PER_TRIP if keep is None else max(
            1, min(_HEADS_PER_TRIP, _MESSAGES_PER_TRIP // (3 * keep)))
        first = 0 if keep is None else -keep
        for i in range(0, len(ids), size):
            chunk = ids[i:i + size]
            per_job = 1 if keep == 0 else 4
            pipe = self._redis.pipeline(transaction=True)
            for job_id in chunk:
                pipe.hgetall(self._job_key(job_id))
                if keep != 0:
                    for kind in _KINDS:
                        pipe.lrange(self._msgs_key(job_id, kind), first, -1)
            replies = pipe.execute()
            for n in range(len(chunk)):
                head = replies[n * per_job]
                if not head:
                    continue
                job = decode_job(head)
                if keep != 0:
                    for k, kind in enumerate(_KINDS):
                        job.messages(kind).extend(
                            JobMessage(kind, text, ts) for text, ts in map(json.loads, replies[n * per_job + 1 + k]))
                jobs.append(job)
        return jobs

    def _change(self, job_id: str, change: Change, emit: bool) -> bool:
        self._settle(job_id)  # a status change comes after the messages and progress sent before it
        key = self._job_key(job_id)
        with self._errors(), self._redis.pipeline(transaction=True) as pipe:
            for attempt in range(_WATCH_ATTEMPTS):
                if attempt:
                    # Full jitter: processes that collided on this job do not collide again in step.
                    time.sleep(delay(attempt, *_WATCH_PAUSE, jitter=True))
                try:
                    head = _watch_and_read(pipe, key)
                    if not head:
                        raise self._not_found(job_id)
                    job = decode_job(head)
                    applied = self._apply(change, job)
                    if applied is None:
                        self._status_seen(job_id, JobStatus(head["status"]))
                        return False
                    self._queue_change(pipe, job, applied, emit, head["status"])
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue  # someone changed the job meanwhile: read it again and re-decide
            else:
                raise StoreError(f"Redis store {self.url}: job {job_id} was changed by others during each of "
                                 f"{_WATCH_ATTEMPTS} attempts to change it; nothing was changed, try again")
        self._status_seen(job_id, job.status)
        return True

    def _claim(self, name: str, holder: str, now: float, keep: float) -> bool:
        with self._errors():
            # SET NX is the atomic step; the expiry forgets the claim after ``keep``.
            return bool(self._redis.set(f"{self.prefix}:claim:{name}", holder or "-", nx=True,
                                        ex=max(1, int(keep))))

    def _queue_change(self, pipe: Any, job: JobInfo, applied: Applied, emit: bool, was: str) -> None:
        key = self._job_key(job.id)
        pipe.multi()
        fields, gone = encode_job(job)
        pipe.hset(key, mapping=fields)
        if gone:
            pipe.hdel(key, *gone)
        for message in applied.added:
            mkey = self._msgs_key(job.id, message.type)
            pipe.rpush(mkey, dumps_text([message.message, message.timestamp]))
            pipe.ltrim(mkey, -self.max_messages, -1)
            if emit:
                self._xadd(pipe, EventType.MESSAGE, job.id, message_data(message))
        if emit:
            self._xadd(pipe, EventType.STATUS, job.id, job_data(job))
        if was != job.status.value or applied.ended:
            # The counts and indexes of _redis_index, in the same MULTI (before the eviction, which may drop
            # this very job); EVAL for the reason given below.
            pipe.eval(TALLY, 0, self.prefix, job.id, job.job_type, was, job.status.value,
                      "1" if applied.ended else "", job.author, job.signature or "", repr(job.end_time or 0.0))
        if applied.ended:
            end = job.end_time or 0.0
            pipe.zrem(self._set_key("active"), job.id)
            pipe.zrem(self._set_key("active", job.job_type), job.id)
            pipe.zadd(self._set_key("past"), {job.id: end})
            pipe.zadd(self._set_key("past", job.job_type), {job.id: end})
            cutoff = self._expired_before(applied.now)
            # EVAL, not EVALSHA: inside MULTI a missing script would fail alone after the rest was applied,
            # and redis-py's check for it costs a round trip. Redis caches the compiled script anyway.
            pipe.eval(scripts.EVICT, 1, self._set_key("past"), self.prefix, self.max_past_jobs,
                      "" if cutoff is None else repr(cutoff))

    def _xadd(self, pipe: Any, kind: EventType, job_id: str, data: dict[str, Any]) -> None:
        pipe.xadd(self._events_key, {"t": kind.value, "j": job_id, "d": dumps_text(data)},
                  maxlen=self.max_events, approximate=True)

    def _write_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                        operations: OperationTree | None) -> bool:
        self._messages.flush()  # messages sent before this value go first
        op = dumps_text(operation.to_dict()) if operation is not None else ""
        tree = operations.to_json() if operations is not None else ""
        usage = operations.usage.to_json() if operations is not None and operations.usage is not None else ""
        with self._errors():
            done = self._progress_script(keys=[self._job_key(job_id), self._events_key, self._ops_key(job_id)],
                                         args=[job_id, repr(value), repr(now), op, self.max_events, tree, usage])
        if done == -1:
            raise self._not_found(job_id)
        return bool(done)

    def _write_messages(self, writes: list[Write]) -> dict[str, JobStatus | None]:
        with self._errors():
            flat = self._messages_script(keys=[self._events_key], args=scripts.messages_args(
                writes, self.prefix, self.max_messages, self.max_events))
        return {job_id: JobStatus(status) if status else None for job_id, status in zip(flat[::2], flat[1::2],
                                                                                        strict=True)}

    def _write_message(self, job_id: str, message: JobMessage) -> bool:
        """One message at once: the first of a job through this store object (see MessageBuffer.add)."""
        self._progress.flush(job_id)
        with self._errors():
            done = self._message_script(
                keys=[self._job_key(job_id), self._msgs_key(job_id, message.type), self._events_key],
                args=[job_id, dumps_text([message.message, message.timestamp]), repr(message.timestamp),
                      self.max_messages, self.max_events, dumps_text(message_data(message))])
        if done == -1:
            raise self._not_found(job_id)
        return bool(done)

    def _query_active(self, job_type: str | None, keep: int | None) -> list[JobInfo]:
        self._catch_up()
        with self._errors():
            ids = self._redis.zrange(self._set_key("active", job_type), 0, -1)
            jobs = self._read_many(list(ids), keep)
        # Between listing ids and reading the jobs one may have finished: it belongs to the other list now.
        return [j for j in jobs if j.is_active]

    def _query_past(self, query: PastQuery) -> list[JobInfo]:
        """Ids come from the past sorted set, newest first, a bounded range at a time; heads are read and
        filtered (status, and jobs that went) until the page is full; messages only for the jobs kept."""
        self._catch_up()
        # One type: its own sorted set; several: the set of all, filtered by type (query.matches) below.
        types = query.job_types
        key = self._set_key("past", next(iter(types)) if types is not None and len(types) == 1 else None)
        low = "-inf" if query.start_from is None else f"({query.start_from!r}"
        high = "+inf" if query.before is None else repr(query.before.end_time)
        limit = query.limit
        out: list[JobInfo] = []
        offset = 0
        # Without a status filter, on one type's set or the set of all, every id read is kept (but the cursor's
        # own, and a job deleted meanwhile): read no more than the page needs. With one, read ahead.
        exact = query.statuses is None and (types is None or len(types) == 1)
        with self._errors():
            while limit is None or len(out) < limit:
                short = limit - len(out) + 1 if exact and limit is not None else None
                want = _HEADS_PER_TRIP if limit is None else min(_HEADS_PER_TRIP, short or 2 * (limit - len(out)) + 8)
                entries = self._redis.zrevrangebyscore(key, high, low, start=offset, num=want, withscores=True)
                offset += len(entries)
                ids = [job_id for job_id, end in entries if query.before is None or (end, job_id) < (
                    query.before.end_time, query.before.id)]  # ties with the cursor's time: by id
                heads = [j for j in self._read_many(ids, 0) if query.matches(j)]
                if limit is not None:
                    heads = heads[:limit - len(out)]
                if query.keep != 0 and heads:
                    # Past jobs never change again, so reading their messages in a second trip is consistent.
                    full = {j.id: j for j in self._read_many([j.id for j in heads], query.keep)}
                    heads = [full[j.id] for j in heads if j.id in full]
                out += heads
                if len(entries) < want:
                    break
        # Redis orders equal scores by member, the same (end time, id) order as the other stores.
        return out

    def _delete_past(self, job_type: str | None) -> list[str]:
        with self._errors():
            gone = self._delete_script(keys=[self._set_key("past", job_type), self._events_key],
                                       args=[self.prefix, self.max_events])
        return list(gone)

    # ------------------------------------------------------------------ fast reads

    def _read_status(self, job_id: str) -> JobStatus | None:
        with self._errors():
            value = self._redis.hget(self._job_key(job_id), "status")
        return JobStatus(value) if value is not None else None

    def count_keys(self) -> int:
        """Keys under this store's prefix (for tests and diagnostics; uses SCAN, not KEYS)."""
        self._catch_up()
        with self._errors():
            return sum(1 for _ in self._redis.scan_iter(match=f"{glob_escape(self.prefix)}:*", count=1000))

    def _limit_steps(self) -> RedisLimits:
        steps: RedisLimits | None = getattr(self, "_limits", None)
        if steps is None:
            steps = self._limits = RedisLimits(self._redis, self.prefix, self._errors)
        return steps

    def _saved_steps(self) -> RedisSaved:
        return RedisSaved(self._redis, self._save_script, self.prefix, self._errors, self._not_found)

    def _schedule_steps(self) -> RedisSchedules:
        return RedisSchedules(self._redis, self._schedule_script, self.prefix, self._errors)

    def _worker_steps(self) -> RedisWorkers:
        return RedisWorkers(self._redis, self.prefix, self._errors)

    # ------------------------------------------------------------------ events

    def _read_events(self, after: str | None, limit: int) -> EventBatch:
        self._catch_up(progress=False)
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xinfo_stream(self._events_key)
            valid = after is not None and STREAM_ID.match(after) is not None
            # Without a usable cursor only the stream's info matters; count=1 keeps the reply small.
            pipe.xrange(self._events_key, f"({after}" if valid else "-", "+", count=limit if valid else 1)
            info, entries = pipe.execute(raise_on_error=False)
        if isinstance(info, redis.ResponseError):
            info = None  # no stream yet: nothing happened under this prefix
        elif isinstance(info, Exception) or isinstance(entries, Exception):
            problem = info if isinstance(info, Exception) else entries
            raise StoreError(f"Redis store {self.url}: cannot read events: {problem}")
        newest = info["last-generated-id"] if info else "0-0"
        if after is None:
            return EventBatch([], newest)
        cursor = parse_id(after)
        if cursor is None or cursor > parse_id_strict(newest) or self._lost(cursor, info):
            return EventBatch([], newest, reset=True)
        if not entries:
            return EventBatch([], after)
        events = [event_from_entry(eid, fields) for eid, fields in entries]
        return EventBatch(events, events[-1].id)

    @staticmethod
    def _lost(cursor: tuple[int, int], info: dict[str, Any] | None) -> bool:
        """True when entries after ``cursor`` may have been trimmed away (the cursor predates the log)."""
        if not info or not info.get("first-entry"):
            return False
        first = parse_id_strict(info["first-entry"][0])
        added = info.get("entries-added")
        trimmed = added is None or int(added) > int(info["length"])
        return cursor < first and trimmed and cursor != (first[0], first[1] - 1)

    def _wait_events(self, after: str | None, timeout: float) -> EventBatch:
        batch = self._read_events(after, 1000)
        block = int(min(timeout, _MAX_BLOCK) * 1000)
        if batch.events or batch.reset or after is None or block < 1:
            return batch
        with self._errors():
            replies = self._redis.xread({self._events_key: after}, count=1000, block=block)
        entries = replies[0][1] if replies else []
        if not entries:
            return batch
        events = [event_from_entry(eid, fields) for eid, fields in entries]
        return EventBatch(events, events[-1].id)

    # ------------------------------------------------------------------ lifecycle

    def _close_backend(self) -> None:
        self._redis.close()

    def delete_all(self) -> int:
        """Delete every key under this store's prefix (tests, or retiring a deployment); returns how many."""
        with self._errors():
            keys = list(self._redis.scan_iter(match=f"{glob_escape(self.prefix)}:*", count=1000))
            for i in range(0, len(keys), 500):
                self._redis.delete(*keys[i:i + 500])
        return len(keys)


def _watch_and_read(pipe: Any, key: str) -> dict[str, str]:
    """``WATCH key`` and ``HGETALL key`` on the pipeline's connection in one round trip (redis-py's ``watch()``
    sends each command on its own: a change would cost three trips instead of two), leaving the pipeline
    watching, as ``pipe.watch(key)`` does. A broken connection is retried as redis-py retries ``WATCH``."""
    conn = pipe.connection
    if conn is None:
        conn = pipe.connection = pipe.connection_pool.get_connection()

    def send() -> dict[str, str]:
        conn.send_packed_command(conn.pack_commands([("WATCH", key), ("HGETALL", key)]))
        pipe.parse_response(conn, "WATCH")
        head: dict[str, str] = pipe.parse_response(conn, "HGETALL")
        return head

    head: dict[str, str] = conn.retry.call_with_retry(send, lambda _error: conn.disconnect())
    pipe.watching = True
    return head

