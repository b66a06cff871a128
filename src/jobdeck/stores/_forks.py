"""The SQLite store's fork hooks: each live store object of this process is told before and after a ``fork()``, so
that a forked child neither uses nor closes connections it inherited in use (see :mod:`jobdeck.stores.sqlite`)."""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["ForkAware", "track"]


class ForkAware(Protocol):
    _closed: bool

    def _before_fork(self) -> None: ...

    def _after_fork_in_parent(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_live: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def track(store: ForkAware) -> None:
    """Have ``store`` told of this process's forks for as long as it lives."""
    _live.add(store)


def _before_fork() -> None:
    for store in list(_live):
        if not store._closed:
            store._before_fork()


def _after_fork_in_parent() -> None:
    for store in list(_live):
        store._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for store in list(_live):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
