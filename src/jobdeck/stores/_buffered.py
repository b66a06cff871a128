"""The base of stores whose writes go to a file or a server (SQLite, Redis, PostgreSQL): one home for the
buffered-write wiring, so that each backend supplies only its storage steps.

What it owns, the same for every such backend:

- progress values coalesced (:class:`~jobdeck.stores._coalesce.ProgressBuffer`): at most one write per job per
  ``progress_interval``, the newest value always written;
- messages queued and written in batches (:class:`~jobdeck.stores._buffer.MessageBuffer`, whose docstring states
  what that promises), one batch every ``message_interval`` at the latest;
- statuses cached (:class:`~jobdeck.stores._coalesce.StatusCache`), so that ``check_abort()`` in a tight loop does
  not cost a round trip each time; every change made through this store object updates it at once;
- the order of it all: :meth:`_settle` writes what is buffered (messages first) before a change, and
  :meth:`_catch_up` before a read;
- store outages: what the store refuses stays buffered and is retried until it lands, in order (the buffers'
  docstrings say how); a change waits for it (StoreError meanwhile), a read does not -- it answers from what the
  store has, a little behind, rather than fail because a write could not be made (a full disk);
- ``flush()`` and ``close()``.

A backend implements :class:`~jobdeck.stores.base.Store`'s steps (``_insert``, ``_read``, ``_change``, ...) plus
the five below, calls ``self._settle(job_id)`` at the start of ``_change``, ``self._catch_up(job_id)`` at the start
of ``_read`` (and ``self._catch_up()`` before queries and event reads), and reports every status it learns with
:meth:`_status_seen`::

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

from ..core.errors import StoreError
from ..core.model import JobMessage, JobStatus, OperationRef
from ..core.operations import OperationTree
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
        self._status = StatusCache()
        self._progress = ProgressBuffer(self._write_progress, progress_interval, name=f"{name}-progress",
                                        known=self._known_active)
        # Messages are kept through an outage as long as a job survives one: stale_after.
        self._messages = MessageBuffer(self._write_messages, self._write_message, self._progress, self._status,
                                       interval=message_interval, outage_limit=self.stale_after,
                                       name=f"{name}-messages")

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
        """Write what is buffered (messages first, they are older than any pending progress) before a change,
        so that it comes after every earlier call; StoreError when the store cannot take it (kept buffered)."""
        self._messages.flush()
        self._progress.flush(job_id)

    def _catch_up(self, job_id: str | None = None, *, progress: bool = True) -> None:
        """Before a read: write what is buffered, so that the answer includes every earlier call -- unless the
        store refuses writes just now (a full disk, a restart): then the read answers from what the store has,
        a little behind, instead of failing because a write could not be made. What was refused stays buffered
        and is retried; the buffers log the outage, once. (A read that cannot reach the store still fails.)
        ``progress=False``: messages only (event reads, which need the message events in order)."""
        try:
            if progress:
                self._settle(job_id)
            else:
                self._messages.flush()
        except StoreError:
            pass

    def _known_active(self, job_id: str) -> bool:
        """Whether this store object knows the job exists and runs (it wrote or read that status)."""
        status = self._status.peek(job_id)
        return status is not None and not status.is_terminal

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
