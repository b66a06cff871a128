"""The base of stores whose writes go to a file or a server (SQLite, Redis, PostgreSQL): one home for the
buffered-write wiring, so that each backend supplies only its storage steps.

What it owns, the same for every such backend:

- progress values coalesced (:class:`~jobdeck.stores._coalesce.ProgressBuffer`): at most one write per job per
  ``progress_interval``, the newest value always written;
- messages queued and written in batches (:class:`~jobdeck.stores._buffer.MessageBuffer`, whose docstring states
  what that promises), one batch every ``message_interval`` at the latest;
- statuses cached (:class:`~jobdeck.stores._coalesce.StatusCache`), so that ``check_abort()`` in a tight loop does
  not cost a round trip each time; every change made through this store object updates it at once;
- the order of it all: :meth:`_settle` writes what is buffered (messages first) before a read or a change;
- ``flush()`` and ``close()``.

A backend implements :class:`~jobdeck.stores.base.Store`'s steps (``_insert``, ``_read``, ``_change``, ...) plus
the five below, calls ``self._settle(job_id)`` at the start of ``_read`` and ``_change`` (and ``self._settle()``
before queries and event reads), and reports every status it learns with :meth:`_status_seen`::

    class MyStore(BufferedStore):
        scheme = "my"
        def _write_progress(self, job_id, value, operation, now, operations) -> bool: ...  # one value, now
        def _write_messages(self, writes) -> dict[str, JobStatus | None]: ...   # one batch, atomically
        def _write_message(self, job_id, message) -> bool: ...                   # one message, now
        def _read_status(self, job_id) -> JobStatus | None: ...                  # uncached
        def _close_backend(self) -> None: ...                                    # after the last flush
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from ..model import JobMessage, JobStatus, OperationRef
from ..operations import OperationTree
from ._buffer import DEFAULT_INTERVAL, MessageBuffer, Write
from ._coalesce import ProgressBuffer, StatusCache
from .base import Store

__all__ = ["BufferedStore"]


class BufferedStore(Store):
    """A :class:`Store` with coalesced progress, batched messages and cached statuses (see the module docstring).

    ``progress_interval`` (seconds, default 0.05) and ``message_interval`` (default 0.005) bound how long a value
    waits in memory; the other keyword arguments are the store limits (``max_messages``, ``stale_after``, ...).
    """

    def __init__(self, *, progress_interval: float = 0.05, message_interval: float = DEFAULT_INTERVAL,
                 **limits: Any) -> None:
        super().__init__(**limits)
        name = f"jobdeck-{self.scheme or 'store'}"
        self._closed = False
        self._progress = ProgressBuffer(self._write_progress, progress_interval, name=f"{name}-progress")
        self._status = StatusCache()
        self._messages = MessageBuffer(self._write_messages, self._write_message, self._progress, self._status,
                                       interval=message_interval, name=f"{name}-messages")

    # ------------------------------------------------------------------ steps a backend supplies

    @abstractmethod
    def _write_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                        operations: OperationTree | None) -> bool:
        """Write one progress value of an active job (and its progress event) now, with the current operation and
        the operation tree unless None; flush queued messages first (``self._messages.flush()``), they are older.
        False if the job is finished; JobNotFoundError if unknown."""

    @abstractmethod
    def _write_messages(self, writes: list[Write]) -> dict[str, JobStatus | None]:
        """Write a batch of messages and progress values atomically (see ``BatchWriter`` in ``_buffer``)."""

    @abstractmethod
    def _write_message(self, job_id: str, message: JobMessage) -> bool:
        """Write one message now, after the job's pending progress (``self._progress.flush(job_id)``): the first
        message of a job through this store object, which must learn whether the job exists."""

    @abstractmethod
    def _read_status(self, job_id: str) -> JobStatus | None:
        """The job's stored status, read now (None if there is no such job)."""

    @abstractmethod
    def _close_backend(self) -> None:
        """Release connections; called once, after everything buffered was written (or could not be)."""

    # ------------------------------------------------------------------ shared machinery

    def _settle(self, job_id: str | None = None) -> None:
        """Write what is buffered (messages first, they are older than any pending progress) before a read or
        a change, so that it sees, and comes after, every earlier call."""
        self._messages.flush()
        self._progress.flush(job_id)

    def _status_seen(self, job_id: str, status: JobStatus) -> None:
        """Remember a status this store object wrote or read; a terminal one drops the job's pending progress
        (so never call it from inside ``_write_progress``: use ``self._status.put`` there)."""
        self._status.put(job_id, status)
        if status.is_terminal:
            self._progress.forget(job_id)

    def _set_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                      operations: OperationTree | None) -> bool:
        return self._progress.update(job_id, value, operation, now, operations)

    def _add_message(self, job_id: str, message: JobMessage) -> bool:
        return self._messages.add(job_id, message)

    def get_status(self, job_id: str, max_age: float = 0.0) -> JobStatus:
        cached = self._status.get(job_id, max_age)
        if cached is not None:
            return cached
        status = self._read_status(job_id)
        if status is None:
            raise self._not_found(job_id)
        self._status.put(job_id, status)
        return status

    def flush(self) -> None:
        self._settle()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._messages.close()
        finally:
            self._progress.close()
            self._closed = True
            self._close_backend()
