"""Buffered message writes, shared by the SQLite and Redis stores.

One message per transaction (SQLite) or per round trip (Redis) caps a job at about 10,000 messages a second;
grouping them lifts that several times. :class:`MessageBuffer` queues a job's messages in memory and returns at
once; a background thread writes everything queued in batches (one transaction or one Lua call per batch of up
to ``batch_size``), at the latest ``interval`` seconds after the first message of a batch was queued. What it
promises:

- **Nothing is lost or coalesced.** Every message is written, in the order of the calls (per job; across jobs
  too, as far as one thread's calls are concerned). The caps on stored messages still apply.
- **Order with the rest of the job's life.** The store flushes the queue before every status change, every read
  of jobs or events, ``flush()`` and ``close()``: a message sent before ``complete()`` is stored (and its event
  logged) before the status event. A progress value set before a message is written with it, ahead of it (see
  :meth:`~jobdeck.stores._coalesce.ProgressBuffer.take`), and a progress write flushes the queue first, so events
  keep the order of the calls; progress values are still coalesced, so some are never written at all.
- **Terminal states stay final.** The batch write checks each job's status atomically and drops messages of
  jobs that are no longer active. ``add_*_message`` returns False when this store object knows the job is
  terminal (it ended the job itself, or read, or was told by a batch write, that it did) and True otherwise. The
  one weakening: a message sent in the few milliseconds after *another* process ended the job, before this store
  object learns of it, returns True and is then discarded.
- **Unknown ids still raise.** A job's first message through a store object is written at once (after the
  queue), which raises JobNotFoundError for an unknown id and StoreError when the store cannot be reached
  (unless this store object knows the job runs: see the outages below). That one call per job and store object
  waits for the store (and for a batch or progress write another thread has in flight, to keep the order);
  every later one only queues.
- **Bounded.** When ``max_pending`` messages (or ``max_bytes`` of text) wait, the writing thread flushes
  itself (backpressure) instead of letting the queue grow.
- **Outages are ridden through.** When the store refuses a batch (a restart, a full disk), the batch stays
  queued, first in line, and the background thread tries again with a growing pause (up to a second) until the
  store takes it; one log line says the writes fail, one that they go through again. Meanwhile ``add`` keeps
  queueing and returns at once -- also the first message of a job this store object knows to be active -- so
  job code goes on. Only when the queue is full does the caller wait for the store (backpressure, as above),
  and when the outage has lasted ``outage_limit`` seconds (the store's ``stale_after``) it gets the StoreError:
  by then other processes may count the job as stale. A status change, ``flush()`` and ``close()`` need the
  queue written first, so they raise StoreError while it cannot be; a read does not (see ``BufferedStore``).
- **Durability and delay.** A process killed with SIGKILL (or a power cut) loses what was queued: the messages
  of the last ``interval`` plus one batch write, a few milliseconds' worth (at most ``max_pending``). Another
  process sees a message within about the same time: measured on 2 cores, p99 6-8 ms (Redis) and 7-21 ms
  (SQLite) at 1,000-20,000 messages a second; a writer faster than the store is held to ``max_pending``
  queued messages, tens of milliseconds of writing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii

from ..core.errors import InvalidArgumentError, StoreError
from ..core.model import JobMessage, JobStatus, OperationRef, format_time
from ..core.operations import OperationTree
from ._coalesce import ProgressBuffer, StatusCache
from ._flusher import Flusher, Outage

__all__ = ["BatchWriter", "MessageBuffer", "ProgressWrite", "Write", "json_string", "kept", "message_event"]

DEFAULT_INTERVAL = 0.005
_MAX_SEEN = 10_000


@dataclass(slots=True)
class ProgressWrite:
    """A progress value that goes into the queue because a message followed it (its order must hold)."""

    value: float
    operation: OperationRef | None  # None: unchanged
    timestamp: float
    operations: OperationTree | None = None  # the operation tree; None: unchanged
    superseded: bool = False  # a newer value of the job was queued later in the same batch


Write = tuple[str, JobMessage | ProgressWrite]
# write_batch(writes) -> {job id: its status, or None if it no longer exists} for every job whose writes were
# dropped because it is not active (any more). Atomic: all of the batch is written, or none of it.
BatchWriter = Callable[[list[Write]], dict[str, JobStatus | None]]
# write_one(job id, message) -> False if the job is finished; raises JobNotFoundError for an unknown id.
OneWriter = Callable[[str, JobMessage], bool]


json_string = encode_basestring_ascii  # what json.dumps does to a str, without the call overhead


def message_event(message: JobMessage) -> str:
    """``json.dumps(message_data(message))``, compact, built directly: this runs once per message."""
    ts = format_time(message.timestamp)
    return (f'{{"message":{{"type":"{message.type._value_}","message":{json_string(message.message)},'
            f'"timestamp":"{ts}"}},"lastActivityTime":"{ts}"}}')


def kept(writes: Sequence[Write], max_messages: int) -> list[bool]:
    """For each write, whether it is a message the cap keeps once the whole batch is in: the newest
    ``max_messages`` of each job and kind. The others need no storing, only their event."""
    left: dict[tuple[str, str], int] = {}
    keep = [False] * len(writes)
    for i in range(len(writes) - 1, -1, -1):
        job_id, write = writes[i]
        if isinstance(write, JobMessage):
            key = (job_id, write.type._value_)
            n = left.get(key, max_messages)
            if n > 0:
                keep[i] = True
                left[key] = n - 1
    return keep


class MessageBuffer:
    """Messages queued in memory and written in batches by a background thread; see the module docstring."""

    def __init__(self, write_batch: BatchWriter, write_one: OneWriter, progress: ProgressBuffer,
                 status: StatusCache, *, interval: float = DEFAULT_INTERVAL, batch_size: int = 1000,
                 max_pending: int = 2000, max_bytes: int = 4 << 20, outage_limit: float = 60.0,
                 name: str = "jobdeck-messages") -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 <= interval <= 10:
            raise InvalidArgumentError(f"message_interval must be a number of seconds in [0, 10], got {interval!r}")
        self.interval = float(interval)
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self.outage_limit = outage_limit
        self._write_batch = write_batch
        self._write_one = write_one
        self._progress = progress
        self._status = status
        self._name = name
        self._new_locks()
        self._queue: list[Write] = []
        self._queued_progress: dict[str, ProgressWrite] = {}  # the newest ProgressWrite of a job in the queue
        self._since = 0.0  # monotonic time the queue last turned non-empty
        self._bytes = 0
        # Queued or being written; read without the lock as a cheap "nothing to do" test.
        self._unwritten = 0
        self._seen: set[str] = set()  # jobs known to exist (a message was written for them)
        self._outage = Outage("messages")
        self._flusher = Flusher(self._run, name, self._after_fork)
        self._closed = False

    def _new_locks(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # Held while a batch is written: a flush waits for a batch another thread is writing.
        self._write_lock = threading.Lock()
        self._stop = threading.Event()

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, and nothing inherited queued (the parent writes its own messages)."""
        self._new_locks()
        self._queue.clear()
        self._queued_progress.clear()
        self._unwritten = self._bytes = 0

    @property
    def pending(self) -> int:
        """Messages (and queued progress values) not written yet."""
        return self._unwritten

    def add(self, job_id: str, message: JobMessage) -> bool:
        """Queue a message (False if the job is known to be finished); see the module docstring."""
        if job_id not in self._seen or self._closed:
            # First message of this job here: write it now, behind everything queued, to learn that the job exists.
            try:
                self.flush()
                done = self._write_one(job_id, message)
            except StoreError:
                status = self._status.peek(job_id)
                if self._closed or status is None or status.is_terminal:
                    raise
                # The store failed, but this store object knows the job runs: queue it with the others.
            else:
                if done:
                    self._remember(job_id)
                return done
            self._remember(job_id)
        status = self._status.peek(job_id)
        if status is not None and status.is_terminal:
            return False
        if self._unwritten >= self.max_pending or self._bytes >= self.max_bytes:
            self._make_room()
        with self._lock:
            # Lock order: this buffer's lock, then the progress buffer's (which never waits for anything). The
            # message is counted before the value is taken and both are queued before the lock is released, so
            # a newer value's write, which flushes this queue first (and waits for this lock to do so), cannot
            # land before the taken one.
            self._unwritten += 1
            taken = self._progress.take(job_id)
            if not self._queue:
                self._since = time.monotonic()
                self._wake.notify()
            if taken is not None:
                progress = ProgressWrite(*taken)
                older = self._queued_progress.get(job_id)
                if older is not None:
                    older.superseded = True  # one progress write per job and batch, at its latest place
                    if progress.operation is None:
                        progress.operation = older.operation
                    if progress.operations is None:
                        progress.operations = older.operations
                self._queued_progress[job_id] = progress
                self._queue.append((job_id, progress))
                self._unwritten += 1
            self._queue.append((job_id, message))
            self._bytes += len(message.message)
            self._flusher.ensure()
        return True

    def _remember(self, job_id: str) -> None:
        if len(self._seen) >= _MAX_SEEN:
            self._seen.clear()  # crude, but forgetting only costs one synchronous write per job
        self._seen.add(job_id)

    def _make_room(self) -> None:
        """Backpressure: write the queue before adding to it. While the store refuses it, wait for the store
        (the caller is held, as by a slow store) until the outage has lasted ``outage_limit`` seconds."""
        while True:
            try:
                self.flush()
                return
            except StoreError:
                since = self._outage.since
                if self._closed or since is None or time.monotonic() - since >= self.outage_limit:
                    raise
            if self._stop.wait(self._outage.retry_in):
                self.flush()  # closed meanwhile: one last attempt, raising if the store still refuses
                return

    def flush(self) -> None:
        """Write everything queued so far (waiting for a batch being written by another thread); cheap when
        nothing is queued. Raises StoreError when the store cannot take it; the messages then stay queued."""
        if not self._unwritten:
            return
        with self._write_lock:
            with self._lock:
                todo = len(self._queue)
            while todo > 0:
                with self._lock:
                    batch = self._queue[:min(todo, self.batch_size)]
                    del self._queue[:len(batch)]
                    for job_id, write in batch:
                        if self._queued_progress.get(job_id) is write:
                            del self._queued_progress[job_id]
                if not batch:
                    return
                todo -= len(batch)
                try:
                    refused = self._write_batch([w for w in batch if not getattr(w[1], "superseded", False)])
                except BaseException as exc:
                    with self._lock:
                        self._queue[:0] = batch  # written all or nothing: try the same batch again later
                    if isinstance(exc, Exception):
                        self._outage.failed(exc, f"{self._unwritten} message(s) are")
                    raise
                self._outage.succeeded()
                with self._lock:
                    self._unwritten -= len(batch)
                    self._bytes -= sum(len(w.message) for _, w in batch if isinstance(w, JobMessage))
                    if not self._queue:
                        self._bytes = 0
                for job_id, status in refused.items():
                    if status is None:
                        self._seen.discard(job_id)  # gone: the next message raises JobNotFoundError
                        self._status.drop(job_id)
                    else:
                        self._status.put(job_id, status)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                wait = self._since + self.interval - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
            try:
                self.flush()
            except Exception:  # kept queued, first in line; flush() logged the outage once
                if self._stop.wait(self._outage.retry_in):
                    return

    def close(self) -> None:
        """Write everything queued and stop the background thread; raises StoreError if that fails."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._stop.set()
        self._flusher.join(timeout=5)
        try:
            self.flush()
        except StoreError as exc:
            lost = self._unwritten
            raise StoreError(f"{lost} message(s) could not be written before closing: {exc}") from exc
