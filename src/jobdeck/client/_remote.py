"""``RemoteController``: the PipelineController interface for a job that runs away from the store.

    job, token = Client(url, admin_token).start_external("Reindex", params={...})   # or POST /start
    ...                                                                          # elsewhere:
    with RemoteController(job.id, url, token) as ctl:
        ctl.initialize_pipeline(["load", ("index", 5)])
        for item in items:
            ctl.check_abort()
            ...
            ctl.progress(done / total)

Job code calls it exactly as it calls :class:`~jobdeck.PipelineController` (it *is* one: the pipeline arithmetic,
the forgiving progress calls and the abort semantics are the same code), but the controller's store is a
private in-memory mirror of the one job. A background thread sends what changed to
``/single/{id}/report`` at most ``max_rate`` times a second, however often job code calls it: the latest
progress and operation, and every message in order. A report's answer carries the job's status, so an abort
requested on the server reaches ``check_abort()`` within one report interval (an idle job sends a heartbeat
every ``heartbeat`` seconds for that, and to stay clear of the stale-job reaper).

Nothing the network does reaches job code: a dropped connection or a restarting server keeps messages in a
buffer of ``max_buffer`` (oldest dropped beyond it, and counted in a warning sent later) and retries with
backoff. Leaving the ``with`` block (or ``close()``) sends what is buffered and the final state
(``/complete``, ``/fail`` or ``/aborted``), retrying for up to ``final_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from ..core.backoff import Backoff
from ..core.model import JobInfo, JobMessage, JobStatus, MessageType, OperationRef
from ..core.operations import OperationTree
from ..runtime.controller import PipelineController
from ..stores.memory import MemoryStore
from ._http import DEFAULT_PREFIX, DEFAULT_URL

__all__ = ["RemoteController"]

logger = logging.getLogger("jobdeck.remote")

_BATCH_MESSAGES = 1000  # the server takes up to this many per report
_BATCH_BYTES = 256 * 1024  # well under the server's default 1 MB body limit
_BACKOFF = (0.1, 2.0)  # first and longest pause between attempts while the server cannot be reached


class _Outbox:
    """What job code produced and the sender has not delivered yet. Writers: job threads; reader: the sender."""

    def __init__(self, max_buffer: int) -> None:
        self.lock = threading.Lock()
        self.messages: deque[tuple[int, JobMessage]] = deque()
        self.max_buffer = max_buffer
        self.seq = itertools.count(1)
        self.dropped = 0
        # Progress: the latest value wins. ``version`` counts changes, so the sender knows whether to send.
        self.progress = 0.0
        self.operation: OperationRef | None = None
        self.operations: OperationTree | None = None  # the newest tree; sent when it is not the one sent last
        self.version = 0
        self.final: tuple[str, Any] | None = None

    def add(self, message: JobMessage) -> None:
        with self.lock:
            if len(self.messages) >= self.max_buffer:
                self.messages.popleft()
                self.dropped += 1
            self.messages.append((next(self.seq), message))


class _Mirror(MemoryStore):
    """The one job, in memory: the controller's store. Changes go to the outbox instead of being kept."""

    def __init__(self, job_id: str, outbox: _Outbox) -> None:
        super().__init__(stale_after=10**9)
        self.outbox = outbox
        self._insert(JobInfo(id=job_id, job_type="remote", author="remote"), None)

    def _set_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                      operations: OperationTree | None = None) -> bool:
        # The hot path: no lock, no event; the controller serialises its calls and the sender tolerates a
        # value newer than the version it read (it sends again next time).
        box = self.outbox
        if box.final is not None:
            return False
        if operation is not None:
            box.operation = operation
        if operations is not None:
            box.operations = operations
        box.progress = value
        box.version += 1
        return True

    def _add_message(self, job_id: str, message: JobMessage) -> bool:
        if self.outbox.final is not None:
            return False
        self.outbox.add(message)
        return True

    def _finish(self, how: str, detail: Any, done: bool) -> bool:
        if done:
            self.outbox.final = (how, detail)
        return done

    def complete_job(self, job_id: str, result: Any = None) -> bool:
        return self._finish("complete", result, super().complete_job(job_id, result))

    def fail_job(self, job_id: str, error_message: str | None = None) -> bool:
        return self._finish("fail", error_message, super().fail_job(job_id, error_message))

    def mark_aborted(self, job_id: str) -> bool:
        return self._finish("aborted", None, super().mark_aborted(job_id))

    def ended_elsewhere(self, job_id: str, status: str) -> None:
        """The server says the job ended (or is gone): make the controller see it, send nothing more."""
        self.outbox.final = ("elsewhere", status)
        if status == JobStatus.ABORTED:
            MemoryStore.mark_aborted(self, job_id)
        else:
            MemoryStore.fail_job(self, job_id, f"the job ended on the server with status {status!r}")


class RemoteController(PipelineController):
    """A :class:`~jobdeck.PipelineController` that reports over HTTP with a job's report token (or the admin
    token). Thread-safe; never raises into job code because of the network. See the module docstring."""

    def __init__(
        self,
        job_id: str,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_rate: float = 10.0,
        heartbeat: float = 1.0,
        max_buffer: int = 10_000,
        timeout: float = 10.0,
        final_timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not max_rate > 0 or not heartbeat > 0 or max_buffer < 1:
            raise ValueError("max_rate and heartbeat must be positive and max_buffer at least 1")
        self._outbox = _Outbox(max_buffer)
        self._tree_delivered: OperationTree | None = None  # the tree the server last accepted
        self._mirror = _Mirror(str(job_id), self._outbox)
        super().__init__(str(job_id), self._mirror)
        headers = {"User-Agent": "jobdeck-remote"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                  transport=transport)
        self._base = f"{'/' + prefix.strip('/') if prefix.strip('/') else ''}/single/{quote(self.job_id, safe='')}"
        self._interval = 1.0 / max_rate
        self._heartbeat = heartbeat
        self.final_timeout = final_timeout
        self._wake = threading.Event()
        self._closing = False
        self._abandoned = False  # close() gave up waiting: the sender stops at once
        self._done = threading.Event()  # the sender has stopped
        self._delivered = False  # ...after delivering everything (not because close() gave up)
        self.requests = 0  # reports and final calls sent (answered or not): for tests and benchmarks
        self._thread = threading.Thread(target=self._run, name=f"jobdeck-remote-{self.job_id[:8]}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:  # the token stays out
        return f"<RemoteController job={self.job_id}>"

    # ------------------------------------------------------------------ job code side

    def close(self, timeout: float | None = None) -> bool:
        """Send what is buffered (and the final state, if the job ended) and stop; True if all was delivered
        within ``timeout`` (default ``final_timeout``) seconds."""
        self._closing = True
        self._wake.set()
        delivered = self._done.wait(self.final_timeout if timeout is None else timeout) and self._delivered
        if not delivered and not self._abandoned:
            self._abandoned = True
            self._wake.set()
            with self._outbox.lock:
                left = len(self._outbox.messages)
            logger.error("job %s: could not deliver the final report within %gs (%d message(s) undelivered)",
                         self.job_id, self.final_timeout if timeout is None else timeout, left)
        self._thread.join(timeout=self._http.timeout.read or 10.0)
        self._http.close()
        return delivered

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            self.close()

    # ------------------------------------------------------------------ sender thread

    def _run(self) -> None:
        backoff = Backoff(first=_BACKOFF[0], maximum=_BACKOFF[1])
        pause = 0.0  # while the server cannot be reached: backoff's pause, else the report interval rules
        last_ok = time.monotonic()
        sent_version = 0
        while not self._abandoned:
            self._wake.wait(max(self._interval, pause))
            self._wake.clear()
            box = self._outbox
            try:
                if box.final is not None and box.final[0] == "elsewhere":
                    break
                with box.lock:
                    pending = bool(box.messages) or box.dropped > 0
                version = box.version
                if pending or version != sent_version:
                    ok, sent_version = self._send_report(version, sent_version)
                elif box.final is not None:
                    ok = self._send_final(box.final)
                    if ok:
                        break
                elif self._closing:
                    break
                elif time.monotonic() - last_ok >= self._heartbeat:
                    ok, sent_version = self._send_report(version, sent_version)
                else:
                    continue
            except Exception:  # anything unforeseen: log it, keep the job code alive, try again later
                logger.exception("job %s: reporting failed unexpectedly", self.job_id)
                ok = False
            if ok:
                if backoff.failing:
                    logger.info("job %s: reports are reaching the server again", self.job_id)
                backoff.reset()
                pause, last_ok = 0.0, time.monotonic()
            else:
                if not backoff.failing:
                    logger.warning("job %s: cannot report to the server; retrying with backoff (messages are "
                                   "kept, up to %d)", self.job_id, box.max_buffer)
                pause = backoff.next()
        self._delivered = not self._abandoned
        self._done.set()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response | None:
        """One request; None when the server could not be reached or answered 5xx (retry later)."""
        self.requests += 1
        try:
            response = self._http.post(f"{self._base}/{path}", json=body)
        except httpx.HTTPError as exc:
            logger.debug("job %s: %s failed: %s", self.job_id, path, exc)
            return None
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            # 401/403: a server restarted with other credentials may be fixed by its operator; keep trying.
            logger.debug("job %s: %s answered %d", self.job_id, path, response.status_code)
            return None
        return response

    def _send_report(self, version: int, sent_version: int) -> tuple[bool, int]:
        box = self._outbox
        batch: list[tuple[int, JobMessage]] = []
        size = 0
        with box.lock:
            dropped = box.dropped
            for item in box.messages:
                size += len(item[1].message) + 40
                if batch and (len(batch) >= _BATCH_MESSAGES - 1 or size > _BATCH_BYTES):
                    break
                batch.append(item)
        body: dict[str, Any] = {}
        tree = box.operations
        if version != sent_version:
            body["progress"] = box.progress
            if box.operation is not None:
                body["currentOperation"] = box.operation.to_dict()
            if tree is not None and tree is not self._tree_delivered:
                body["operations"] = tree.to_list()
                if tree.usage is not None:  # ctl.usage(): the totals ride with the tree (unpriced: the server prices)
                    body["usage"] = tree.usage.to_dict()
        messages = [{"type": m.type.value, "message": m.message} for _, m in batch]
        if dropped:
            messages.insert(0, {"type": MessageType.WARNING.value, "message": (
                f"{dropped} message(s) were dropped here: the server could not be reached and the reporter's "
                f"buffer ({box.max_buffer} messages) was full")})
        if messages:
            body["messages"] = messages
        response = self._post("report", body)
        if response is None:
            return False, sent_version
        if response.status_code == 200:
            if "operations" in body:
                self._tree_delivered = tree
            with box.lock:
                last = batch[-1][0] if batch else 0
                while box.messages and box.messages[0][0] <= last:
                    box.messages.popleft()
                box.dropped -= dropped
            self._apply(response)
            return True, version
        if response.status_code in (404, 409):
            self._ended(response)
            return True, version
        # 400/413: this batch can never be accepted; drop it rather than retry it for ever.
        logger.error("job %s: the server refused a report (%d): %s; %d message(s) dropped", self.job_id,
                     response.status_code, response.text[:200], len(batch))
        with box.lock:
            last = batch[-1][0] if batch else 0
            while box.messages and box.messages[0][0] <= last:
                box.messages.popleft()
        return True, version

    def _send_final(self, final: tuple[str, Any]) -> bool:
        how, detail = final
        body: dict[str, Any] = {}
        if how == "complete":
            body = {"result": detail}
        elif how == "fail" and detail is not None:
            body = {"message": detail}
        response = self._post(how, body)
        if response is None:
            return False
        if response.status_code not in (200, 404, 409):
            logger.error("job %s: the server refused the final %s (%d): %s", self.job_id, how,
                         response.status_code, response.text[:200])
        return True

    def _apply(self, response: httpx.Response) -> None:
        answer = response.json()
        status = answer.get("status")
        if status == JobStatus.ABORTING and self._mirror.get_status(self.job_id) is JobStatus.RUNNING:
            self._mirror.request_abort(self.job_id, answer.get("abortReason"))
        elif status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED) and self._outbox.final is None:
            self._mirror.ended_elsewhere(self.job_id, status)

    def _ended(self, response: httpx.Response) -> None:
        status = "failed"
        with contextlib.suppress(ValueError):
            status = str(response.json().get("status") or status)
        if self._outbox.final is None:
            logger.warning("job %s: the server no longer takes reports (HTTP %d, status %s); the job code is told "
                           "to stop", self.job_id, response.status_code, status)
            self._mirror.ended_elsewhere(self.job_id, status)
        else:
            self._outbox.final = ("elsewhere", status)
