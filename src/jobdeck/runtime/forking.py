"""After ``fork()``: the runtime's objects that hold locks or threads renew them in the child.

A lock some thread of the parent held at the instant of the fork stays held for ever in the child (that thread
does not exist there), and so does a thread the object thinks it has. Each such object calls
:func:`renew_after_fork` once; in every forked child its ``_after_fork()`` then runs before anything else does.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["Renewable", "renew_after_fork"]


class Renewable(Protocol):
    def _after_fork(self) -> None:
        """Fresh locks, no threads and nothing in flight: the state of the object in a new child process."""


_live: weakref.WeakSet[Renewable] = weakref.WeakSet()


def renew_after_fork(item: Renewable) -> None:
    """Have ``item._after_fork()`` called in every child forked from now on, for as long as ``item`` lives."""
    _live.add(item)


def _after_fork_in_child() -> None:
    for item in list(_live):
        item._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
