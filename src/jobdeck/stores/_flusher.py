"""What the write buffers share: a background writer thread kept alive across ``fork()``, fresh locks in a
forked child, and the retry policy of writes the store could not take.

Threads do not survive ``fork()``: a child process (a pre-forking worker pool, say) inherits a buffer whose
writer thread object exists but will never run, and locks that some thread of the parent may have held at that
instant, which nobody in the child will ever release. Everything of this layer that owns a lock registers with
:func:`renew_after_fork`; in a forked child its ``_forked()`` runs before anything else can use it, and gives it
fresh locks (and drops what it inherited queued: the parent writes that). :class:`Flusher` starts its thread on
first need, so in the child it starts again lazily, the first time the buffer has something to write.

:class:`Outage` is how a buffer rides through a store that fails for a while (a restart, a full disk): the
writes are kept and retried with a growing pause, and the operator gets one log line when the writes start
failing and one when they go through again, not one per attempt.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from ..core.backoff import Backoff

__all__ = ["Flusher", "Outage", "renew_after_fork"]

logger = logging.getLogger("jobdeck.store")

# First and longest pause between two attempts of a write the store refused: an outage of a few seconds is
# bridged within about a second of its end, and a long one costs one attempt a second.
RETRY_FIRST = 0.01
RETRY_LONGEST = 1.0


class _ForkAware(Protocol):
    def _forked(self) -> None: ...


_live: weakref.WeakSet[_ForkAware] = weakref.WeakSet()


def renew_after_fork(owner: _ForkAware) -> None:
    """Call ``owner._forked()`` in every child forked from now on (while ``owner`` lives)."""
    _live.add(owner)


class Flusher:
    """``ensure()`` (called with the owner's lock held) starts ``target`` in a daemon thread unless it runs."""

    def __init__(self, target: Callable[[], None], name: str, after_fork: Callable[[], None]) -> None:
        self._target = target
        self._name = name
        self._after_fork = after_fork
        self.thread: threading.Thread | None = None
        renew_after_fork(self)

    def ensure(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._target, name=self._name, daemon=True)
            self.thread.start()

    def join(self, timeout: float) -> None:
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _forked(self) -> None:
        self.thread = None  # the parent's thread does not exist here; ensure() starts one when needed
        self._after_fork()


class Outage:
    """The state of a buffer's writes: failing since when, and how long to wait before the next attempt.

    ``failed(exc, kept)`` after a write the store refused returns the pause before the next attempt (a
    :class:`~jobdeck.core.backoff.Backoff` doubling from ``RETRY_FIRST`` to ``RETRY_LONGEST``) and logs a warning
    the first time; ``succeeded()`` after a write
    went through ends the outage (with an info line, if there was one). Thread-safe; its lock is never held while
    logging or writing.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self.since: float | None = None  # monotonic time of the first failure of this outage
        self._backoff = Backoff(RETRY_FIRST, RETRY_LONGEST)
        self.retry_in = RETRY_FIRST  # the pause the last failure asked for
        renew_after_fork(self)

    @property
    def failing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, kept: str) -> float:
        with self._lock:
            first = self.since is None
            if first:
                self.since = time.monotonic()
            pause = self.retry_in = self._backoff.next()
        if first:
            logger.warning("%s could not be written (%s); %s kept in memory and retried until the store takes them",
                           self.what, exc, kept)
        return pause

    def succeeded(self) -> None:
        if self.since is None:  # unlocked peek: the common case is no outage
            return
        with self._lock:
            since, self.since, self.retry_in = self.since, None, RETRY_FIRST
            self._backoff.reset()
        if since is not None:
            logger.info("%s go through again after %.1fs; what was kept is written", self.what,
                        time.monotonic() - since)

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self.since, self.retry_in = None, RETRY_FIRST
        self._backoff = Backoff(RETRY_FIRST, RETRY_LONGEST)


def _after_fork_in_child() -> None:
    for owner in list(_live):
        owner._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
