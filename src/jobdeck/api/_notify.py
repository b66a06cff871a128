# Long: the webhook notifier is one object (its senders, claims, watcher thread and shutdown); the sending
# itself is in _webhook.py. Splitting the watcher from the senders would share their state across modules.
"""Webhooks when a job fails, is aborted or is reaped as stale (and, per type, when it completes), and when a
running job turns stalled (``job.stalled``, issue 22: once per stall, see :meth:`Notifier.sweep_stalled`).

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
  ``attempts`` tries; each POST has a ``timeout`` for the whole request (a receiver that drips its answer a byte
  at a time is cut off at it, not given ``timeout`` per byte).
- One sender per URL, each with its own bounded queue (``max_queue``; when full the oldest delivery is dropped,
  logged and counted in ``dropped``): a receiver that hangs or fails delays only its own notifications. The
  senders are tasks on one event loop in one thread; an unexpected error is logged and the sender goes on.
- Not to this machine: URLs whose host is ``localhost`` or a loopback, link-local (``169.254.169.254``),
  unspecified or multicast address are refused at start, and a host name is resolved by the notifier itself
  at each send, refused if it resolves to such an address, and the request goes to the address it checked (so
  DNS cannot point a public name at 127.0.0.1 between the check and the connection). ``allow_private=True``
  (``--notify-allow-private``) lifts this, for a receiver on the same machine.
- At shutdown (:meth:`Notifier.close`, after the runner's shutdown, so that jobs failed for not stopping are
  notified too): the watcher catches up with the store's events, deliveries due within ``timeout`` still go
  out, and every delivery still waiting (a retry due later, one cut off in flight) is logged, one warning each
  with its job id, event and URL (host only), and counted in ``dropped``.
- Signed: with a ``secret``, ``X-Jobdeck-Timestamp: <unix seconds>`` and
  ``X-Jobdeck-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``; receivers check the signature and
  refuse old timestamps (replays).
- ``slack+https://...`` URLs get Slack's incoming-webhook shape (``text`` plus ``blocks``) at ``https://...``.
- Events from before the notifier started are not notified (it starts at the store's current cursor).

Webhook URLs can carry secrets (Slack's do): logs name the host only, claims a hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ..core.backoff import delay
from ..core.diagnosis import Scene, TypeRules
from ..core.errors import InvalidArgumentError
from ..core.events import EventType
from ..core.model import JobInfo, JobStatus
from ..core.net import ALLOW_PRIVATE_FLAG, blocked_address, check_notify_url, redact_target
from ..stores.base import STALE_PREFIX, Store
from ._schedule_notify import ScheduleWatch
from ._webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, job_summary, sign, slack_message

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Notifier", "job_summary", "sign", "slack_message"]

logger = logging.getLogger("jobdeck.notify")

_SLACK = "slack+"
DEFAULT_MAX_QUEUE = 1000  # deliveries waiting per URL; beyond it the oldest goes
_SWEEP = 5.0  # seconds between looks for stalled jobs (they emit no event)


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    summary: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)

    def describe(self) -> str:
        what = "schedule" if self.summary["event"].startswith("schedule.") else "job"
        return f"{what} {self.summary['id']} ({self.summary['event']}) to {redact_target(self.url)}"


class _Refused(Exception):
    """The URL's host resolved to an address webhooks may not go to (not retried)."""


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
        allow_private: bool = False,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self.urls = [check_notify_url(u, allow_private=allow_private) for u in urls]
        if not self.urls:
            raise InvalidArgumentError("a notifier needs at least one URL")
        if secret is not None and not secret:
            raise InvalidArgumentError("notify secret must not be empty")
        if attempts < 1 or backoff <= 0 or timeout <= 0 or max_queue < 1:
            raise InvalidArgumentError("attempts and max_queue must be >= 1, backoff and timeout positive")
        self.store = store
        self.secret = secret
        self.completed = frozenset(completed)
        self.public_url = (public_url or "").rstrip("/")
        self.job_path = "/api/admin/jobs/single/{id}/progress"  # create_app points it at the job's page
        self.schedules = ScheduleWatch(store, self.push)  # schedule.skipped / schedule.missed (issue 23)
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.allow_private = allow_private
        self.max_queue = max_queue
        self.holder = f"{id(self):x}"
        self.sent = 0  # deliveries answered 2xx (for tests and logs)
        self.dropped = 0  # deliveries given up without an answer: queue full, refused address, pending at close
        self._seq = itertools.count()
        self._count_lock = threading.Lock()
        self._senders = {url: _Sender(self, url) for url in dict.fromkeys(self.urls)}
        self._stop = threading.Event()
        self._drain = threading.Event()  # close(): read what the store has, then stop watching
        self._caught_up = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self._loop_stop: asyncio.Event | None = None
        self._threads: list[threading.Thread] = []
        self.stall_rules: dict[str, TypeRules] = {}  # by job type; create_app sets the runner's (others: defaults)
        self._next_sweep = 0.0

    @property
    def pending(self) -> int:
        """Deliveries queued or being sent, over every URL."""
        return sum(sender.pending for sender in self._senders.values())

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start watching from now (idempotent)."""
        if self._threads:
            return
        cursor = self.store.read_events(None).cursor
        self.schedules.baseline()
        self._threads = [threading.Thread(target=self._watch, args=(cursor,), name="jobdeck-notify-watch",
                                          daemon=True),
                         threading.Thread(target=self._send_all, name="jobdeck-notify-send", daemon=True)]
        for thread in self._threads:
            thread.start()
        self._loop_ready.wait(5.0)

    def close(self, timeout: float = 2.0) -> None:
        """Stop: notify what the store's events hold so far, send what is due within ``timeout``, then drop
        (and log, one line each) the deliveries still waiting."""
        if self._stop.is_set():
            return
        deadline = time.monotonic() + timeout
        if self._threads:
            self._drain.set()
            self._caught_up.wait(max(0.0, deadline - time.monotonic()))
            while time.monotonic() < deadline and any(s.busy_now() for s in self._senders.values()):
                time.sleep(0.02)
        self._stop.set()
        loop, stop = self._loop, self._loop_stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                loop.call_soon_threadsafe(stop.set)
        for thread in self._threads:
            thread.join(max(0.5, deadline - time.monotonic()))
        for sender in self._senders.values():
            for delivery, what in sender.take_all():
                self._lost(delivery, f"at shutdown ({what})")

    def _lost(self, delivery: _Delivery, why: str) -> None:
        logger.warning("notification of %s dropped %s", delivery.describe(), why)
        with self._count_lock:  # the watcher thread, the senders' thread and close() all drop
            self.dropped += 1  # after the line: whoever sees the count can find the line

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
        try:
            self._follow(cursor)
        finally:
            self._caught_up.set()

    def _follow(self, cursor: str | None) -> None:
        while not self._stop.is_set():
            draining = self._drain.is_set()
            try:
                # Closing: no waiting, just what is there (the jobs the runner's shutdown has just failed).
                batch = self.store.read_events(cursor) if draining else self.store.wait_events(cursor, 1.0)
            except Exception:  # a store error, or a bug: watching goes on either way
                if draining:
                    logger.warning("notifications: the store's last events could not be read at shutdown; jobs "
                                   "that ended just now may not be notified", exc_info=True)
                    break
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
            self.schedules.check(self.public_url)
            if draining and not batch.events:
                return
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + _SWEEP
                self.sweep_stalled()

    def _consider(self, job_id: str) -> None:
        try:
            job = self.store.get_job(job_id)
            if job is None or not job.status.is_terminal:
                return
            event = self.wants(job)
            if event is None:
                return
            self.push(job.id, job_summary(job, event, self.public_url + self.job_path.format(id=job.id)))
        except Exception:  # this job's problem (or the store's), never the watcher's end
            logger.warning("notifications: could not prepare the notification of job %s", job_id, exc_info=True)

    def sweep_stalled(self, now: float | None = None) -> list[str]:
        """Queue ``job.stalled`` for each running job that turned stalled (:mod:`jobdeck.core.diagnosis`): exactly
        once per stall and URL across server processes (a claim keyed by the job and its last activity time, so a
        job that moves and stalls again is notified again). Stalls emit no event, so the watcher looks every few
        seconds (one read of the active heads). Returns the ids notified."""
        try:
            scene = Scene([], time.time() if now is None else now, self.store.stale_after, rules=self.stall_rules)
            stalled = [job for job in self.store.get_active_jobs(messages=False) if scene.stalled(job)]
        except Exception:
            logger.warning("notifications: could not look for stalled jobs", exc_info=True)
            return []
        sent = []
        for job in stalled:
            summary = job_summary(job, "stalled", self.public_url + self.job_path.format(id=job.id))
            for url, sender in self._senders.items():
                key = hashlib.sha256(url.encode()).hexdigest()[:24]
                if self.store.claim(f"stalled:{job.id}:{job.last_activity_time!r}:{key}", self.holder):
                    sender.push(_Delivery(time.time(), next(self._seq), url, summary))
                    sent.append(job.id)
        return sent

    def push(self, name: str, summary: dict[str, Any]) -> None:
        """Send ``summary`` to every URL, each from the one process that claims ``notify:<name>:<URL hash>``."""
        for url, sender in self._senders.items():
            key = hashlib.sha256(url.encode()).hexdigest()[:24]
            if self.store.claim(f"notify:{name}:{key}", self.holder):
                sender.push(_Delivery(time.time(), next(self._seq), url, summary))

    # ------------------------------------------------------------------ sending

    def _send_all(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_stop = asyncio.Event()
        tasks = [asyncio.create_task(sender.run(), name=f"jobdeck-notify {redact_target(url)}")
                 for url, sender in self._senders.items()]
        self._loop_ready.set()
        try:
            await self._loop_stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _wake(self, sender: _Sender) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended: close() logs what is left
                loop.call_soon_threadsafe(sender.wake)

    def _request(self, delivery: _Delivery) -> tuple[str, bytes, dict[str, str]]:
        if delivery.url.startswith(_SLACK):
            url, body = delivery.url.removeprefix(_SLACK), orjson.dumps(slack_message(delivery.summary))
        else:
            url, body = delivery.url, orjson.dumps(delivery.summary)
        headers = {"Content-Type": "application/json", "User-Agent": "jobdeck-notify"}
        if self.secret is not None:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(self.secret, stamp, body)
        return url, body, headers


class _Sender:
    """The deliveries of one URL: a bounded queue (ordered by when each is due) and the task that sends them.

    ``push`` runs on the watcher thread, everything else on the notifier's event loop; ``_lock`` guards the
    queue between them (never held across I/O)."""

    def __init__(self, notifier: Notifier, url: str) -> None:
        self.notifier = notifier
        self.url = url
        self.shown = redact_target(url)
        self._queue: list[_Delivery] = []
        self._in_flight: _Delivery | None = None
        self._lock = threading.Lock()
        self._event = asyncio.Event()  # bound to the notifier's loop on first use (Python 3.10+)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + (self._in_flight is not None)

    def busy_now(self) -> bool:
        """Something is being sent, or is due to be."""
        with self._lock:
            return self._in_flight is not None or bool(self._queue and self._queue[0].due <= time.time())

    def push(self, delivery: _Delivery) -> None:
        with self._lock:
            dropped = None
            if len(self._queue) >= self.notifier.max_queue:
                dropped = min(self._queue, key=lambda d: d.seq)  # the oldest notification
                self._queue.remove(dropped)
                heapq.heapify(self._queue)
            heapq.heappush(self._queue, delivery)
        if dropped is not None:
            self.notifier._lost(dropped, f"because the queue of {self.shown} is full "
                                         f"({self.notifier.max_queue} waiting)")
        self.notifier._wake(self)

    def take_all(self) -> list[tuple[_Delivery, str]]:
        """Empty the queue: each delivery with what became of it."""
        now = time.time()
        with self._lock:
            left = [(self._in_flight, "cut off while being sent")] if self._in_flight is not None else []
            left += [(d, f"its retry {d.attempt} was due in {d.due - now:.0f}s" if d.due > now else "not sent yet")
                     for d in sorted(self._queue)]
            self._queue.clear()
            self._in_flight = None
        return left

    def wake(self) -> None:
        self._event.set()

    async def _next(self) -> _Delivery:
        while True:
            with self._lock:
                self._event.clear()
                if self._queue and self._queue[0].due <= time.time():
                    self._in_flight = heapq.heappop(self._queue)
                    return self._in_flight
                wait = self._queue[0].due - time.time() if self._queue else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), max(0.001, min(wait, 1.0)))

    async def run(self) -> None:
        timeout = self.notifier.timeout
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            while True:
                try:
                    delivery = await self._next()
                    await self._attempt(client, delivery)
                except asyncio.CancelledError:
                    raise
                except Exception:  # never end this URL's notifications for good
                    logger.exception("notifications to %s: unexpected error; going on", self.shown)
                    await asyncio.sleep(min(1.0, self.notifier.backoff))

    async def _attempt(self, client: httpx.AsyncClient, delivery: _Delivery) -> None:
        notifier = self.notifier
        try:
            url, body, headers = notifier._request(delivery)
            target, extensions = await self._pin(url, headers)
            async with asyncio.timeout(notifier.timeout):  # the whole request, however slowly it trickles in
                answer = await client.post(target, content=body, headers=headers, extensions=extensions)
            problem = None if 200 <= answer.status_code < 300 else f"answered {answer.status_code}"
        except _Refused as exc:
            with self._lock:
                self._in_flight = None
            notifier._lost(delivery, f"without sending: {exc}")
            return
        except TimeoutError:
            problem = f"gave no complete answer within {notifier.timeout:g}s"
        except (httpx.HTTPError, OSError) as exc:
            problem = type(exc).__name__
        except Exception as exc:  # a bug of ours or a library's: this delivery fails, the sender goes on
            logger.exception("notification of %s: unexpected error", delivery.describe())
            problem = f"unexpected {type(exc).__name__}"
        with self._lock:
            self._in_flight = None
            if problem is None:
                notifier.sent += 1
                return
            delivery.attempt += 1
            if delivery.attempt < notifier.attempts:
                # The attempt count travels with the delivery (several wait at once): the stateless schedule,
                # uncapped (``attempts`` bounds it).
                delivery.due = time.time() + delay(delivery.attempt, notifier.backoff, math.inf)
                delivery.seq = next(notifier._seq)
                heapq.heappush(self._queue, delivery)
                logger.info("notification of %s %s; retry %d in %.0fs", delivery.describe(), problem,
                            delivery.attempt, delivery.due - time.time())
                return
        logger.warning("notification of %s gave up after %d attempts (%s)", delivery.describe(), delivery.attempt,
                       problem)

    async def _pin(self, url: str, headers: dict[str, str]) -> tuple[httpx.URL, dict[str, Any]]:
        """The URL to connect to: unless private targets are allowed, the host is resolved here, every address
        checked, and the request sent to the checked address (``Host`` and TLS still name the host), so that
        the name cannot resolve to something else between the check and the connection."""
        parsed = httpx.URL(url)
        if self.notifier.allow_private:
            return parsed, {}
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            why = blocked_address(address)
            if why is not None:
                raise _Refused(f"{host} resolves to {address}, {why}; allow it with {ALLOW_PRIVATE_FLAG}")
        if not addresses:
            raise OSError(f"{host} resolves to no address")
        headers["Host"] = parsed.netloc.decode("ascii")
        extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
        return parsed.copy_with(host=addresses[0]), extensions
