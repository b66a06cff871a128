"""Webhooks when a job fails, is aborted or is reaped as stale (and, per type, when it completes).

    notifier = Notifier(store, ["https://alerts.example.com/jobdeck", "slack+https://hooks.slack.com/services/..."],
                        secret="s3cret", completed=["NightlyImport"], public_url="https://jobs.example.com")
    app = create_app(runner=runner, token=token, notifier=notifier)

How it works, and why:

- A watcher thread follows the store's change events, so that every terminal job is seen, whichever process
  ran it (a server, a script, a worker).
- **Exactly once per job and URL** with several server processes on one store: before sending, a process
  claims ``notify:<job id>:<hash of the URL>`` through :meth:`Store.claim` (SQLite ``INSERT OR IGNORE``, Redis
  ``SET NX``, PostgreSQL ``ON CONFLICT DO NOTHING``); only the process that won the claim sends. A process that
  dies after claiming loses that delivery (at most once after the claim).
- Never in the job's way: the job's thread only writes its status; reading events, building the summary and
  sending happen on the notifier's own threads, and a failing receiver changes nothing in the store.
- Retried with exponential backoff (1, 2, 4, 8 s...) on a connection error or a non-2xx answer, up to
  ``attempts`` tries; each POST has a ``timeout``.
- Signed: with a ``secret``, ``X-Jobdeck-Timestamp: <unix seconds>`` and
  ``X-Jobdeck-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``; receivers check the signature and
  refuse old timestamps (replays).
- ``slack+https://...`` URLs get Slack's incoming-webhook shape (``text`` plus ``blocks``) at ``https://...``.
- Events from before the notifier started are not notified (it starts at the store's current cursor).

Webhook URLs can carry secrets (Slack's do): logs name the host only, claims a hash.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from ..errors import InvalidArgumentError, JobdeckError
from ..events import EventType
from ..model import JobInfo, JobStatus
from ..settings import check_notify_url
from ..stores.base import STALE_PREFIX, Store

__all__ = ["Notifier", "job_summary", "sign", "slack_message"]

logger = logging.getLogger("jobdeck.notify")

SIGNATURE_HEADER = "X-Jobdeck-Signature"
TIMESTAMP_HEADER = "X-Jobdeck-Timestamp"
_SLACK = "slack+"
_MAX_ERROR = 2000


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``timestamp``, a dot, and the body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def job_summary(job: JobInfo, event: str, link: str) -> dict[str, Any]:
    """The JSON a webhook receives."""
    first_error = job.error_messages[0].message[:_MAX_ERROR] if job.error_messages else None
    end = job.end_time if job.end_time is not None else time.time()
    return {
        "event": f"job.{event}",
        "jobType": job.job_type,
        "id": job.id,
        "status": job.status.value,
        "author": job.author,
        "duration": round(end - job.start_time, 3),
        "firstError": first_error,
        "abortReason": job.abort_reason,
        "abortedBy": job.aborted_by,
        "link": link,
        "startTime": job.to_dict(messages=0)["startTime"],
        "endTime": job.to_dict(messages=0)["endTime"],
    }


def _escape(text: str) -> str:
    # Slack's mrkdwn: only these three are control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(summary: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook format: a ``text`` fallback and one section block."""
    icon = {"job.failed": ":x:", "job.reaped": ":skull:", "job.aborted": ":octagonal_sign:"}.get(
        summary["event"], ":white_check_mark:")
    what = summary["event"].removeprefix("job.")
    head = f"{summary['jobType']} {what} after {summary['duration']:.1f}s (by {summary['author']})"
    lines = [f"{icon} *{_escape(head)}*", f"<{summary['link']}|job {summary['id'][:8]}>"]
    if summary.get("firstError"):
        lines.append(f"```{_escape(str(summary['firstError'])[:500])}```")
    if summary.get("abortedBy"):
        lines.append(_escape(f"aborted by {summary['abortedBy']}: {summary.get('abortReason') or 'no reason'}"))
    return {"text": f"jobdeck: {head}", "blocks": [{"type": "section",
                                                    "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    summary: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class Notifier:
    """Watches ``store`` and POSTs a summary of each matching terminal job to every URL (see the module doc)."""

    def __init__(
        self,
        store: Store,
        urls: Iterable[str],
        *,
        secret: str | None = None,
        completed: Iterable[str] = (),
        public_url: str | None = None,
        attempts: int = 6,
        backoff: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self.urls = [check_notify_url(u) for u in urls]
        if not self.urls:
            raise InvalidArgumentError("a notifier needs at least one URL")
        if secret is not None and not secret:
            raise InvalidArgumentError("notify secret must not be empty")
        if attempts < 1 or backoff <= 0 or timeout <= 0:
            raise InvalidArgumentError("attempts must be >= 1, backoff and timeout positive")
        self.store = store
        self.secret = secret
        self.completed = frozenset(completed)
        self.public_url = (public_url or "").rstrip("/")
        self.job_path = "/api/admin/jobs/single/{id}/progress"  # create_app points it at the job's page
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.holder = f"{id(self):x}"
        self.sent = 0  # deliveries answered 2xx (for tests and logs)
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start watching from now (idempotent)."""
        if self._threads:
            return
        cursor = self.store.read_events(None).cursor
        self._threads = [threading.Thread(target=self._watch, args=(cursor,), name="jobdeck-notify-watch",
                                          daemon=True),
                         threading.Thread(target=self._deliver, name="jobdeck-notify-send", daemon=True)]
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop; deliveries due within ``timeout`` still go out, later retries are dropped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue and self._queue[0].due <= time.time() and time.monotonic() < deadline:
                self._cond.wait(0.05)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    # ------------------------------------------------------------------ watching

    def wants(self, job: JobInfo) -> str | None:
        """The event name to notify for a terminal job, or None."""
        if job.status is JobStatus.FAILED:
            last = job.error_messages[-1].message if job.error_messages else ""
            return "reaped" if last.startswith(STALE_PREFIX) else "failed"
        if job.status is JobStatus.ABORTED:
            return "aborted"
        if job.status is JobStatus.COMPLETED and ("*" in self.completed or job.job_type in self.completed):
            return "completed"
        return None

    def _watch(self, cursor: str | None) -> None:
        while not self._stop.is_set():
            try:
                batch = self.store.wait_events(cursor, 1.0)
            except (JobdeckError, OSError):
                logger.warning("notifications: reading the store's events failed; retrying", exc_info=True)
                self._stop.wait(1.0)
                continue
            if batch.reset:
                logger.warning("notifications: events were lost (the store's event log moved on); some jobs that "
                               "ended meanwhile may not be notified")
            for event in batch.events:
                if event.type is EventType.STATUS and event.data.get("status") in ("failed", "aborted", "completed"):
                    self._consider(event.job_id)
            cursor = batch.cursor or cursor

    def _consider(self, job_id: str) -> None:
        try:
            job = self.store.get_job(job_id)
            if job is None or not job.status.is_terminal:
                return
            event = self.wants(job)
            if event is None:
                return
            summary = job_summary(job, event, self.public_url + self.job_path.format(id=job.id))
            for url in self.urls:
                key = hashlib.sha256(url.encode()).hexdigest()[:24]
                if self.store.claim(f"notify:{job.id}:{key}", self.holder):
                    self._push(_Delivery(time.time(), next(self._seq), url, summary))
        except (JobdeckError, OSError, ValueError):
            logger.warning("notifications: could not prepare the notification of job %s", job_id, exc_info=True)

    # ------------------------------------------------------------------ sending

    def _push(self, delivery: _Delivery) -> None:
        with self._cond:
            heapq.heappush(self._queue, delivery)
            self._cond.notify_all()

    def _deliver(self) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            while not self._stop.is_set():
                with self._cond:
                    if not self._queue:
                        self._cond.wait(0.5)
                        continue
                    wait = self._queue[0].due - time.time()
                    if wait > 0:
                        self._cond.wait(min(wait, 0.5))
                        continue
                    delivery = heapq.heappop(self._queue)
                self._attempt(client, delivery)
                with self._cond:
                    self._cond.notify_all()

    def _attempt(self, client: httpx.Client, delivery: _Delivery) -> None:
        url, body = self._request(delivery)
        headers = {"Content-Type": "application/json", "User-Agent": "jobdeck-notify"}
        if self.secret is not None:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(self.secret, stamp, body)
        host = urlsplit(url).hostname or "?"
        try:
            answer = client.post(url, content=body, headers=headers)
            if 200 <= answer.status_code < 300:
                self.sent += 1
                return
            problem = f"answered {answer.status_code}"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}"
        delivery.attempt += 1
        if delivery.attempt >= self.attempts:
            logger.warning("notification of job %s to %s gave up after %d attempts (%s)",
                           delivery.summary["id"], host, delivery.attempt, problem)
            return
        delivery.due = time.time() + self.backoff * 2 ** (delivery.attempt - 1)
        delivery.seq = next(self._seq)
        logger.info("notification of job %s to %s %s; retry %d in %.0fs", delivery.summary["id"], host, problem,
                    delivery.attempt, delivery.due - time.time())
        self._push(delivery)

    @staticmethod
    def _request(delivery: _Delivery) -> tuple[str, bytes]:
        if delivery.url.startswith(_SLACK):
            return delivery.url.removeprefix(_SLACK), orjson.dumps(slack_message(delivery.summary))
        return delivery.url, orjson.dumps(delivery.summary)

