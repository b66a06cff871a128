"""Whole answers of the read endpoints (``/active``, ``/past``, ``/single/{id}/progress``), reused while the store
is unchanged.

Every change to a job emits an event, so "the store changed since this answer was built" is a cheap question
(see :meth:`jobdeck.api._deck.Deck.version`), while building a list means reading every job and its messages
from the store: milliseconds on SQLite and Redis, whatever the per-job bytes cache saves afterwards. Each entry
is keyed by (endpoint, normalised query) and remembers the store version it was built at; it is served as long
as the version is the same and the entry is younger than ``max_age`` (heartbeats change a job without an event,
and a failing event reader must not freeze an answer). When it is not, the first request rebuilds it and
concurrent requests for the same key and version wait for that one build instead of querying the store too:
an answer is rebuilt at most once per change (and once per ``max_age``), whatever the number of readers.

The version is always taken *before* the build's store query, so an entry is never older than its version says.

One cache per app (``Deck.answers``), only touched from the event loop's thread: no lock. Bounded by the total
size of the bodies, evicting the least recently used; a body above a quarter of the bound is not kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from ..core.jsoncodec import compact

__all__ = ["DEFAULT_ANSWER_BYTES", "DEFAULT_MAX_AGE", "Answer", "AnswerCache", "Build"]

# A quarter of it (the largest answer kept) holds a full list of ten jobs at the default message cap (3 x 1,000
# messages each, ~3.3 MB): such a list costs a store tens of milliseconds to read (on PostgreSQL 60-150 ms), so
# rebuilding it on every request would make it the slowest answer to poll.
DEFAULT_ANSWER_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_AGE = 1.0


class Answer:
    """A response body and its headers, with the store version and the (monotonic) time its query started."""

    __slots__ = ("body", "built", "headers", "version")

    def __init__(self, body: bytes, headers: dict[str, str] | None, version: Hashable, built: float) -> None:
        self.body = body
        self.headers = headers
        self.version = version
        self.built = built


# Builds the body (and headers) of an answer from the store.
Build = Callable[[], Awaitable[tuple[bytes, dict[str, str] | None]]]


class AnswerCache:
    """``await get(key, version, build)`` -> an :class:`Answer` for ``key`` at ``version``, built at most once."""

    def __init__(self, max_bytes: int = DEFAULT_ANSWER_BYTES, max_age: float = DEFAULT_MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.size = 0
        self.hits = 0
        self.builds = 0
        self._clock = clock
        self._entries: OrderedDict[Hashable, Answer] = OrderedDict()
        self._building: dict[tuple[Hashable, Hashable], asyncio.Future[Answer | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def fresh(self, key: Hashable, version: Hashable) -> Answer | None:
        """The cached answer for ``key`` if it was built at ``version`` and is young enough."""
        entry = self._entries.get(key)
        if entry is None or entry.version != version or self._clock() - entry.built > self.max_age:
            return None
        self._entries.move_to_end(key)
        return entry

    async def get(self, key: Hashable, version: Hashable, build: Build) -> Answer:
        """The cached answer, or the one a concurrent request is building for the same version, or a new one."""
        entry = self.fresh(key, version)
        if entry is not None:
            self.hits += 1
            return entry
        token = (key, version)
        loop = asyncio.get_running_loop()
        while True:
            pending = self._building.get(token)
            if pending is None or pending.get_loop() is not loop:  # (a build on a loop that is gone: ignore)
                return await self._build(token, key, version, build, loop)
            # Shielded: this request being cancelled must not cancel the build the others wait for.
            answer = await asyncio.shield(pending)
            if answer is not None:
                self.hits += 1
                return answer
            # That build failed or was cancelled: build (and meet its error, if any) ourselves.

    async def _build(self, token: tuple[Hashable, Hashable], key: Hashable, version: Hashable, build: Build,
                     loop: asyncio.AbstractEventLoop) -> Answer:
        done: asyncio.Future[Answer | None] = loop.create_future()
        self._building[token] = done
        answer = None
        started = self._clock()
        try:
            body, headers = await build()
            self.builds += 1
            answer = Answer(body, headers, version, started)
            self._keep(key, answer)
            return answer
        finally:
            if self._building.get(token) is done:
                del self._building[token]
            done.set_result(answer)

    def _keep(self, key: Hashable, answer: Answer) -> None:
        old = self._entries.get(key)
        if old is not None:
            if old.built > answer.built:  # a later query finished first: keep the newer answer
                return
            self.size -= len(old.body)
            del self._entries[key]
        if len(answer.body) > self.max_bytes // 4:  # one huge answer must not flush everything else
            return
        answer.body = compact(answer.body)  # what the bound counts is what it holds
        self._entries[key] = answer
        self.size += len(answer.body)
        # An answer older than max_age is never served again: drop those at the cold end (one per job a client
        # once asked for would otherwise pile up to max_bytes under churn), then whatever exceeds the bound.
        limit = answer.built - self.max_age
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if self.size <= self.max_bytes and oldest.built >= limit:
                break
            _, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted.body)

    def clear(self) -> None:
        """Forget every answer (builds in progress finish normally)."""
        self._entries.clear()
        self.size = 0
