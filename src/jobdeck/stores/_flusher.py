"""The background writer thread of a write buffer, kept alive across ``fork()``.

Threads do not survive ``fork()``: a child process (a pre-forking worker pool, say) inherits a buffer whose
writer thread object exists but will never run, and locks that some thread of the parent may have held at that
instant. :class:`Flusher` starts its thread on first need and again in a forked child; its owner's ``after_fork``
runs first in the child, to give the buffer fresh locks and drop what it inherited queued (the parent writes
that). Both buffers (:mod:`._coalesce`, :mod:`._buffer`) use it, so neither can forget to.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

__all__ = ["Flusher"]

_live: weakref.WeakSet[Flusher] = weakref.WeakSet()


class Flusher:
    """``ensure()`` (called with the owner's lock held) starts ``target`` in a daemon thread unless it runs."""

    def __init__(self, target: Callable[[], None], name: str, after_fork: Callable[[], None]) -> None:
        self._target = target
        self._name = name
        self._after_fork = after_fork
        self.thread: threading.Thread | None = None
        _live.add(self)

    def ensure(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._target, name=self._name, daemon=True)
            self.thread.start()

    def join(self, timeout: float) -> None:
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _forked(self) -> None:
        self.thread = None
        self._after_fork()


def _after_fork_in_child() -> None:
    for flusher in list(_live):
        flusher._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
