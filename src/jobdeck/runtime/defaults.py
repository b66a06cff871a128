"""The process-wide default store, as in the reference system's module-level functions.

``jobdeck.create_job(...)`` and friends act on it. It is a :class:`MemoryStore` unless configured with
``jobdeck.configure(store=...)`` (a store or a URL) or the ``JOBDECK_STORE`` environment variable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from ..core.model import JobInfo, JobStatus
from ..stores import Store, open_store

__all__ = ["configure", "create_job", "get_active_jobs", "get_default_store", "get_job", "get_past_jobs"]

_lock = threading.Lock()
_store: Store | None = None


def configure(store: Store | str | None = None, **limits: Any) -> Store:
    """Set the default store: a Store, a URL, or None for ``$JOBDECK_STORE`` (else ``memory://``)."""
    global _store
    if store is None:
        store = os.environ.get("JOBDECK_STORE", "memory://")
    new = open_store(store, **limits) if isinstance(store, str) else store
    with _lock:
        _store = new
    return new


def get_default_store() -> Store:
    with _lock:
        current = _store
    return current if current is not None else _configure_once()


def _configure_once() -> Store:
    global _store
    with _lock:
        if _store is None:
            _store = open_store(os.environ.get("JOBDECK_STORE", "memory://"))
        return _store


def create_job(job_type: str, author: str, params: Any = None) -> JobInfo:
    return get_default_store().create_job(job_type, author, params)


def get_job(job_id: str) -> JobInfo | None:
    return get_default_store().get_job(job_id)


def get_active_jobs(job_type: str | None = None) -> list[JobInfo]:
    return get_default_store().get_active_jobs(job_type)


def get_past_jobs(job_type: str | None = None, statuses: Iterable[JobStatus | str] | None = None,
                  start_from: Any = None) -> list[JobInfo]:
    return get_default_store().get_past_jobs(job_type, statuses, start_from)
