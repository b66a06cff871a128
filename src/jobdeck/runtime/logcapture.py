"""Log records emitted during a job become the job's messages.

    runner.register("Import", import_rows, capture_logs=True)      # the whole handler
    with ctl.capture_logs():                                        # or a block of it
        library.do_work()                                           # its logging.info(...) lands in the job

While a capture is active, ``logging`` records that reach the root logger from the job's own thread, or from
asyncio tasks it runs and creates, are added to the job as messages: INFO -> info, WARNING -> warning,
ERROR and above -> error, each as ``"<logger name>: <message>"`` (with the exception's type and text when the
record has one). Which job a record belongs to is a :mod:`contextvars` variable, so two jobs in one process never
see each other's records; threads the job starts itself do not carry it (wrap their work in
``contextvars.copy_context().run``, or capture inside them).

- Only records the logging configuration lets through are seen: a logger at WARNING never creates its INFO
  records. jobdeck does not change your levels (``jobdeck serve`` sets the root logger to ``--log-level``).
- jobdeck's own loggers (``jobdeck.*``) are left out: the job's messages are already in the job.
- Rate-limited: a burst of :data:`BURST` records, then :data:`PER_SECOND` a second; what is dropped is counted and
  reported in one warning message. Messages are capped at :data:`MAX_CHARS` characters, and the store's
  ``max_messages`` applies as for any message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field

from ..core.jsoncodec import safe_text
from ..core.model import MessageType
from ..stores.base import Store

__all__ = ["BURST", "MAX_CHARS", "PER_SECOND", "capture_logs"]

BURST = 200
PER_SECOND = 20.0
MAX_CHARS = 4000

_ACTIVE: ContextVar[_Capture | None] = ContextVar("jobdeck_log_capture", default=None)
_install_lock = threading.Lock()


@dataclass(eq=False)
class _Capture:
    store: Store
    job_id: str
    level: int
    tokens: float = float(BURST)
    stamp: float = field(default_factory=time.monotonic)
    dropped: int = 0
    busy: bool = False  # a store write that logs must not be captured into itself

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(BURST), self.tokens + (now - self.stamp) * PER_SECOND)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.dropped += 1
        return False

    def add(self, record: logging.LogRecord) -> None:
        if record.levelno < self.level or record.name == "jobdeck" or record.name.startswith("jobdeck."):
            return
        if not self.allow():
            return
        self.busy = True
        try:
            # A log line must never break the job that logged it (nor log about itself: we are inside logging).
            with suppress(Exception):
                self.store.add_message(self.job_id, _kind(record.levelno), _text(record))
        finally:
            self.busy = False

    def report_dropped(self) -> None:
        if self.dropped:
            with suppress(Exception):
                self.store.add_warning_message(
                    self.job_id, f"{self.dropped} log record(s) not recorded: more than {PER_SECOND:g} a second")
            self.dropped = 0


def _kind(levelno: int) -> MessageType:
    if levelno >= logging.ERROR:
        return MessageType.ERROR
    if levelno >= logging.WARNING:
        return MessageType.WARNING
    return MessageType.INFO


def _text(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the record's problem, not the job's
        message = f"{record.msg!r} (unformattable arguments)"
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        message += f" ({type(exc).__name__}: {exc})"
    text = f"{record.name}: {message}"
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1] + "…"
    return safe_text(text)


class _Handler(logging.Handler):
    """One per process, on the root logger: hands each record to the capture of the context it was emitted in."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _ACTIVE.get()
        if capture is not None and not capture.busy:
            capture.add(record)


def _install() -> None:
    root = logging.getLogger()
    with _install_lock:
        if not any(isinstance(h, _Handler) for h in root.handlers):
            root.addHandler(_Handler(logging.NOTSET))


@contextmanager
def capture_logs(store: Store, job_id: str, level: int = logging.INFO) -> Iterator[None]:
    """Capture, for the current thread or task (and the tasks it creates), into job ``job_id``."""
    _install()
    token = _ACTIVE.set(_Capture(store, job_id, level))
    try:
        yield
    finally:
        capture = _ACTIVE.get()
        _ACTIVE.reset(token)
        if capture is not None:
            capture.report_dropped()
