"""Live events: one upstream reader per app, fanned out to every ``/events`` client.

A thread blocks in ``store.wait_events`` and hands each batch to the event loop (``call_soon_threadsafe``);
there every event, already encoded once as an SSE frame, is offered to one bounded queue per client. A client
that falls behind (its queue is full) is not waited for: its queue is emptied and it gets ``event: reset``
(reload state, then go on), so one slow reader never holds up the others.

Resuming (``Last-Event-ID``): from the multiplexer's recent buffer when the id is still in it, else from the
store's event log, else ``reset``. The replay ends exactly at the last event already handed to the client
queues, so nothing is missed and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..core.backoff import Backoff
from ..core.events import EventBatch, JobEvent
from ..core.jsoncodec import dumps
from ..stores.base import Store

__all__ = ["EventStreamResponse", "Multiplexer", "encode_event"]

logger = logging.getLogger("jobdeck.api")

PING = b": ping\n\n"
RETRY = b"retry: 1000\n\n"
_CLOSE = None  # queue item that ends a stream
# Failed reads in a row after which the reader checks whether the store answers at all: if it does, the events
# after the cursor are what fails, and the reader skips to the head (listeners get a reset).
_POISON_AFTER = 3


def encode_event(event: JobEvent) -> bytes:
    """One SSE frame: ``id``, ``event`` and the event's JSON as ``data`` (orjson never emits newlines)."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        event.id.encode(), event.type.value.encode(), dumps(event.to_dict()))


def _frame(kind: str, data: object, event_id: str | None = None) -> bytes:
    head = b"id: %s\n" % event_id.encode() if event_id else b""
    return head + b"event: %s\ndata: %s\n\n" % (kind.encode(), dumps(data))


def reset_frame(cursor: str | None) -> bytes:
    return _frame("reset", {"cursor": cursor}, cursor)


class _Client:
    __slots__ = ("closed", "queue", "resets")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(size)
        self.resets = 0
        self.closed = False

    def _empty(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    def offer(self, chunk: bytes, head: str | None) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(chunk)
        except asyncio.QueueFull:
            # Too slow to keep up: what it missed is gone, so it must reload state; tell it so and go on.
            self.reset(head)

    def reset(self, head: str | None) -> None:
        if not self.closed:
            self._empty()
            self.resets += 1
            self.queue.put_nowait(reset_frame(head))

    def ping(self) -> None:
        if not self.closed and not self.queue.full():
            self.queue.put_nowait(PING)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._empty()
            self.queue.put_nowait(_CLOSE)


class Multiplexer:
    """Fans the store's events out to many listeners; started on the first subscription, stopped by ``close``.

    Everything but the reader thread runs on the event loop's thread, so the client set, the recent buffer and
    ``head`` need no lock.
    """

    def __init__(self, store: Store, *, ping_interval: float = 15.0, buffer_size: int = 10_000,
                 buffer_bytes: int = 8 * 1024 * 1024,
                 queue_size: int = 1000, poll_timeout: float = 1.0, replay_limit: int = 100_000) -> None:
        self.store = store
        self.ping_interval = ping_interval
        self.queue_size = queue_size
        self.poll_timeout = min(poll_timeout, ping_interval)
        self.replay_limit = replay_limit
        self.head: str | None = None  # id of the last event handed to client queues
        # Counts every hand-over of events (or of a reset) to the loop, and every reader (re)start: the store
        # version the answer cache keys on (see Deck.version). Only ever grows.
        self.changes = 0
        self._clients: set[_Client] = set()
        self._recent: deque[tuple[str, bytes]] = deque()
        self._recent_pos: dict[str, int] = {}  # event id -> absolute position in the stream
        self._next_pos = 0
        self._buffer_size = buffer_size
        self._buffer_bytes = buffer_bytes  # the recent buffer is bounded in events and in bytes
        self._recent_bytes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: threading.Event | None = None
        self._start_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @property
    def client_count(self) -> int:
        return len(self._clients)

    # ------------------------------------------------------------------ upstream

    async def ensure_started(self) -> None:
        """Start reading upstream for the running event loop, unless already done (cheap then)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._start_lock is None or self._lock_loop is not loop:
            self._start_lock, self._lock_loop = asyncio.Lock(), loop
        async with self._start_lock:
            if self._loop is loop:
                return
            self._stop_reader()  # a new event loop (tests, a restarted server): the old one is gone
            batch = await run_in_threadpool(self.store.read_events, None)
            self.head = batch.cursor
            self.changes += 1  # whatever happened while no reader ran is behind this point
            self._recent.clear()
            self._recent_bytes = 0
            self._recent_pos.clear()
            stop = threading.Event()
            thread = threading.Thread(target=self._read_upstream, args=(loop, stop, batch.cursor),
                                      name="jobdeck-events", daemon=True)
            self._loop, self._stop = loop, stop
            thread.start()

    def _stop_reader(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._loop = self._stop = None

    def _read_upstream(self, loop: asyncio.AbstractEventLoop, stop: threading.Event, cursor: str | None) -> None:
        """The reader thread. Nothing ends it but ``stop`` (or a closed loop): a failing read is retried (one
        log line when the trouble starts, one when it ends), pings go on meanwhile, an event that cannot be
        encoded is skipped, and a cursor the store keeps failing on while it otherwise answers is given up
        for the store's head, with a ``reset`` to every listener."""
        last_ping = time.monotonic()
        backoff = Backoff(first=0.2, maximum=5.0)  # between failed reads: 0.2 s, doubling, at most 5 s
        trouble_since = 0.0
        while not stop.is_set():
            ping = time.monotonic() - last_ping >= self.ping_interval
            if ping:
                last_ping = time.monotonic()
            try:
                batch = self.store.wait_events(cursor, self.poll_timeout)
            except Exception as exc:
                if stop.is_set():
                    return
                pause = backoff.next()
                failures = backoff.failures
                if failures == 1:  # one line per outage, not one per retry
                    trouble_since = time.monotonic()
                    logger.warning("reading events from the store failed; retrying: %s: %s",
                                   type(exc).__name__, exc)
                reset = self._skip_poisoned(cursor) if failures % _POISON_AFTER == 0 else None
                if reset is not None:
                    logger.warning("events after %s cannot be read although the store answers; listeners "
                                   "reload from %s", cursor, reset)
                    cursor = reset
                if (reset is not None or ping) and not self._post(loop, stop, [], reset, ping):
                    return
                stop.wait(pause)
                continue
            if backoff.failing:
                logger.warning("reading events from the store works again after %d failed attempt(s) in %.1fs",
                               backoff.failures, time.monotonic() - trouble_since)
                backoff.reset()
            if stop.is_set():
                return
            if batch.cursor is not None:
                cursor = batch.cursor
            frames = self._encode(batch.events)
            if (frames or batch.reset or ping) and not self._post(loop, stop, frames,
                                                                  cursor if batch.reset else None, ping):
                return

    def _skip_poisoned(self, cursor: str | None) -> str | None:
        """The store's head if the store answers (so the failure is the events after ``cursor``), else None."""
        try:
            head = self.store.read_events(None).cursor
        except Exception:
            return None  # the store itself is unreachable: keep the cursor and wait
        return head if head != cursor else None

    @staticmethod
    def _encode(events: list[JobEvent]) -> list[tuple[str, bytes]]:
        frames = []
        for event in events:
            try:
                frames.append((event.id, encode_event(event)))
            except Exception:  # one bad event is that event's problem: skip it, keep the stream
                logger.exception("skipping event %s of job %s: it cannot be encoded", event.id, event.job_id)
        return frames

    def _post(self, loop: asyncio.AbstractEventLoop, stop: threading.Event, frames: list[tuple[str, bytes]],
              reset: str | None, ping: bool) -> bool:
        """Hand a batch to the loop thread; False when the loop is closed (the server is gone)."""
        try:
            loop.call_soon_threadsafe(self._deliver, stop, frames, reset, ping)
        except RuntimeError:
            return False
        return True

    def _deliver(self, reader: threading.Event, frames: list[tuple[str, bytes]], reset: str | None,
                 ping: bool) -> None:
        """On the loop thread: append to the recent buffer and offer one shared chunk to every client."""
        if reader is not self._stop:  # from a reader that was replaced or stopped meanwhile
            return
        if reset is not None or frames:
            self.changes += 1
        if reset is not None:
            # The reader lost its place in the store's log: every listener must reload state. Events in this
            # batch are covered by that reload, and the buffer can no longer serve resumes.
            self._recent.clear()
            self._recent_bytes = 0
            self._recent_pos.clear()
            self.head = reset
            for client in self._clients:
                client.reset(reset)
        elif frames:
            self._remember(frames)
            self.head = frames[-1][0]
            joined = b"".join(frame for _, frame in frames)  # encoded once, shared by every client
            for client in self._clients:
                client.offer(joined, self.head)
        if ping:
            for client in self._clients:
                client.ping()

    def _remember(self, frames: list[tuple[str, bytes]]) -> None:
        recent, positions = self._recent, self._recent_pos
        for event_id, frame in frames:
            recent.append((event_id, frame))
            positions[event_id] = self._next_pos
            self._next_pos += 1
            self._recent_bytes += len(frame)
        while recent and (len(recent) > self._buffer_size or self._recent_bytes > self._buffer_bytes):
            old_id, old = recent.popleft()
            positions.pop(old_id, None)
            self._recent_bytes -= len(old)

    # ------------------------------------------------------------------ listeners

    async def subscribe(self, last_event_id: str | None) -> tuple[_Client, bytes]:
        """Register a listener; returns it and the bytes to send first (retry, hello, replay or reset)."""
        client = _Client(self.queue_size)
        if self.closed:
            client.close()
            return client, RETRY
        await self.ensure_started()
        # No await between here and the snapshot of ``head``: deliveries also run on this thread, so the
        # replay below and the queue split the stream exactly at ``head``.
        self._clients.add(client)
        head = self.head
        hello = _frame("hello", {"cursor": head}, None if last_event_id else head)
        if not last_event_id or last_event_id == head:
            return client, RETRY + hello
        position = self._recent_pos.get(last_event_id)
        if position is not None:
            start = position - (self._next_pos - len(self._recent)) + 1
            replay = b"".join(frame for _, frame in itertools.islice(self._recent, start, None))
            return client, RETRY + hello + replay
        replay, lost = await self._replay_from_store(last_event_id, head)
        if lost:
            return client, RETRY + hello + reset_frame(head)
        return client, RETRY + hello + replay

    async def _replay_from_store(self, after: str, head: str | None) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        cursor: str | None = after
        sent = 0
        while True:
            batch: EventBatch = await run_in_threadpool(self.store.read_events, cursor, 1000)
            if batch.reset:
                return b"", True
            for event in batch.events:
                parts.append(encode_event(event))
                if event.id == head:
                    return b"".join(parts), False
            sent += len(batch.events)
            if not batch.events or batch.cursor is None or sent > self.replay_limit:
                # Ran out before reaching ``head`` (a cursor from elsewhere) or too far behind: reload instead.
                return (b"".join(parts), False) if not batch.events else (b"", True)
            cursor = batch.cursor

    def unsubscribe(self, client: _Client) -> None:
        self._clients.discard(client)

    def close(self) -> None:
        """End every stream and stop reading upstream (server shutdown). Call on the loop thread."""
        self.closed = True
        self._stop_reader()


class EventStreamResponse(Response):
    """``text/event-stream`` for one client: the first bytes, then whatever its queue receives.

    Its own ``__call__`` (rather than ``StreamingResponse``) so that a disconnect, a shutdown and a write error
    all end in one place and the client is always unsubscribed.
    """

    def __init__(self, mux: Multiplexer, client: _Client, first: bytes) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self.mux = mux
        self.client = client
        self.first = first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.client
        watcher = asyncio.ensure_future(self._watch_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
            ]})
            await send({"type": "http.response.body", "body": self.first, "more_body": True})
            async for chunk in self._chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        finally:
            watcher.cancel()
            self.mux.unsubscribe(client)

    async def _chunks(self) -> AsyncIterator[bytes]:
        queue = self.client.queue
        while True:
            item = await queue.get()
            if item is _CLOSE:
                return
            if queue.empty():
                yield item
                continue
            parts = [item]  # several batches waiting: one write instead of many
            while not queue.empty():
                nxt = queue.get_nowait()
                if nxt is _CLOSE:
                    yield b"".join(parts)
                    return
                parts.append(nxt)
            yield b"".join(parts)

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                self.client.close()
                return
