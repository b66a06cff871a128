"""A small synchronous client for the jobdeck HTTP API (see docs/design.md).

    with Client("http://127.0.0.1:8000", token="s3cret") as client:
        job = client.start("ArgumentCondensation", params={"question_ids": [1, 2]})
        for event in client.iter_events():
            ...
        final = client.wait(job.id)

Every error answer becomes :class:`jobdeck.ClientError` carrying the server's ``error`` text and the HTTP
status; a server that cannot be reached becomes a ``ClientError`` with ``status_code=None`` and one line that
says so. The token is sent as a bearer header and never appears in ``repr`` or in error messages.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .errors import ClientError
from .events import EventType, JobEvent
from .model import TERMINAL, JobInfo

__all__ = ["Client", "EventStream", "StreamReset"]

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PREFIX = "/api/admin/jobs"
# The server sends a ping comment every 15 s; a stream silent for much longer than that is dead.
STREAM_READ_TIMEOUT = 45.0

Messages = int | str | None


def _messages_param(messages: Messages) -> str:
    """None -> all, 0 -> none, N -> last:N; the API's own strings pass through."""
    if messages is None:
        return "all"
    if isinstance(messages, bool) or not isinstance(messages, int | str):
        raise ValueError(f"messages must be None, an int or 'all'/'none'/'last:N', got {messages!r}")
    if isinstance(messages, int):
        if messages < 0:
            raise ValueError(f"messages must not be negative, got {messages}")
        return "none" if messages == 0 else f"last:{messages}"
    return messages


@dataclass(frozen=True, slots=True)
class StreamReset:
    """Yielded by :class:`EventStream` when the server lost the resume point: reload state, then go on."""

    cursor: str | None


class Client:
    """The jobdeck HTTP API as Python calls; a context manager that closes its connection pool.

    ``base_url`` is the server root (``http://host:port``); ``prefix`` is where the job API is mounted.
    ``timeout`` bounds connecting and each ordinary request, in seconds.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        timeout: float = 10.0,
        *,
        prefix: str = DEFAULT_PREFIX,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ClientError(f"invalid jobdeck URL {base_url!r}: expected http://host:port or https://host:port")
        self.base_url = str(base_url).rstrip("/")
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": "jobdeck-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # the token stays out on purpose
        return f"Client({self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; open event streams end with it."""
        self._http.close()

    # ------------------------------------------------------------------ plumbing

    def _path(self, path: str) -> str:
        return f"{self.prefix}{path}"

    def unreachable(self, exc: httpx.TransportError) -> ClientError:
        """One line for a transport failure: where we tried to go and why it failed."""
        if isinstance(exc, httpx.TimeoutException):
            why = f"timed out after {self.timeout:g}s"
        elif isinstance(exc, httpx.ConnectError):
            text = str(exc).lower()
            why = "connection refused" if "refused" in text or "errno 111" in text else (str(exc) or "cannot connect")
        else:
            why = str(exc) or type(exc).__name__
        return ClientError(f"cannot reach jobdeck at {self.base_url}: {why}")

    @staticmethod
    def error_from(response: httpx.Response) -> ClientError:
        """The server's ``{"error": ...}`` text (or a short summary of a non-JSON answer) with the status."""
        message = ""
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("error") is not None:
                message = str(body["error"])
            elif isinstance(body, dict) and body.get("detail") is not None:
                message = str(body["detail"])
        except (json.JSONDecodeError, UnicodeDecodeError):
            message = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        if not message:
            message = response.reason_phrase or "error"
        return ClientError(f"{message} (HTTP {response.status_code})", response.status_code)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, self._path(path), **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if response.status_code >= 400:
            raise self.error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ClientError(
                f"jobdeck at {self.base_url} answered {method} {path} with something that is not JSON",
                response.status_code,
            ) from None

    @staticmethod
    def _job_path(job_id: str, tail: str) -> str:
        return f"/single/{quote(str(job_id), safe='')}/{tail}"

    # ------------------------------------------------------------------ endpoints

    def healthz(self) -> dict[str, Any]:
        """``GET /healthz`` (outside the API prefix, no auth)."""
        try:
            response = self._http.get("/healthz")
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if response.status_code >= 400:
            raise self.error_from(response)
        result: dict[str, Any] = response.json()
        return result

    def active(self, job_type: str | None = None, messages: Messages = None) -> list[JobInfo]:
        """Active jobs (running or aborting), with all messages unless ``messages`` says otherwise."""
        params: dict[str, str] = {"messages": _messages_param(messages)}
        if job_type:
            params["jobType"] = job_type
        return [JobInfo.from_dict(item) for item in self._json("GET", "/active", params=params)]

    def past_page(
        self,
        job_type: str | None = None,
        statuses: Sequence[str] | None = None,
        start_from: str | None = None,
        messages: Messages = None,
        limit: int | None = None,
    ) -> tuple[list[JobInfo], str | None]:
        """Past jobs, newest ended first, and the cursor to pass as ``start_from`` next time."""
        params: list[tuple[str, str]] = [("messages", _messages_param(messages))]
        if job_type:
            params.append(("jobType", job_type))
        params.extend(("statuses", str(status)) for status in statuses or ())
        if start_from:
            params.append(("startFrom", start_from))
        if limit is not None:
            params.append(("limit", str(limit)))
        response = self._request("GET", "/past", params=params)
        jobs = [JobInfo.from_dict(item) for item in response.json()]
        return jobs, response.headers.get("X-Jobdeck-Cursor")

    def past(
        self,
        job_type: str | None = None,
        statuses: Sequence[str] | None = None,
        start_from: str | None = None,
        messages: Messages = None,
        limit: int | None = None,
    ) -> list[JobInfo]:
        """Past jobs, newest ended first (see :meth:`past_page` for the incremental cursor)."""
        return self.past_page(job_type, statuses, start_from, messages, limit)[0]

    def start(self, job_type: str, params: Mapping[str, Any] | None = None, author: str | None = None) -> JobInfo:
        """Start a job of a registered type; 404 unknown type, 409 too many active, 400 bad params."""
        body: dict[str, Any] = {"jobType": job_type}
        if author is not None:
            body["author"] = author
        if params is not None:
            body["params"] = dict(params)
        return JobInfo.from_dict(self._json("POST", "/start", json=body))

    def job(self, job_id: str, messages: Messages = None) -> JobInfo:
        """One job (active or past) with its messages; 404 when unknown."""
        data = self._json("GET", self._job_path(job_id, "progress"), params={"messages": _messages_param(messages)})
        return JobInfo.from_dict(data)

    def messages(self, job_id: str, since: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """``{"messages": [...], "next": ISO | None}``: the job's messages merged, oldest first."""
        params: dict[str, str] = {}
        if since:
            params["since"] = since
        if limit is not None:
            params["limit"] = str(limit)
        result: dict[str, Any] = self._json("GET", self._job_path(job_id, "messages"), params=params)
        return result

    def abort(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        """Ask one job to abort; 404 unknown, 409 already finished. Returns ``{"message", "jobId"}``."""
        body = {"reason": reason} if reason else {}
        result: dict[str, Any] = self._json("POST", self._job_path(job_id, "abort"), json=body)
        return result

    def abort_all(self, reason: str | None = None) -> dict[str, Any]:
        """Ask every active job to abort. Returns ``{"message", "targetedJobs", "abortRequestedFor"}``."""
        body = {"reason": reason} if reason else {}
        result: dict[str, Any] = self._json("POST", "/abort-all", json=body)
        return result

    def types(self) -> list[dict[str, Any]]:
        """Registered job types with their parameters and active job ids."""
        result: list[dict[str, Any]] = self._json("GET", "/types")
        return result

    def stats(self) -> dict[str, Any]:
        """Counts per status, active jobs and the stale threshold."""
        result: dict[str, Any] = self._json("GET", "/stats")
        return result

    # ------------------------------------------------------------------ live

    def iter_events(
        self,
        last_event_id: str | None = None,
        job_type: str | None = None,
        *,
        reconnect_for: float = 30.0,
    ) -> EventStream:
        """Follow ``/events``: an iterator of :class:`JobEvent` (and :class:`StreamReset` when the server lost
        the resume point). A server that cannot be reached at first is a ClientError at once; a connection
        dropped later is resumed with ``Last-Event-ID``, and after ``reconnect_for`` seconds without getting
        back in, ClientError. ``job_type`` keeps only that type's events."""
        return EventStream(self, last_event_id, job_type, reconnect_for)

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job is terminal (following ``/events``, not polling) and return it.

        ``timeout`` is checked as events arrive; ClientError when it has passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.iter_events() as stream:
            stream.connect()  # subscribed before the first read: nothing can slip between the two
            job = self.job(job_id, messages=0)
            if job.status in TERMINAL:
                return job
            for event in stream:
                if deadline is not None and time.monotonic() > deadline:
                    raise ClientError(f"job {job_id} still {job.status.value} after {timeout:g}s")
                if isinstance(event, StreamReset) or (event.job_id == job_id and event.type is EventType.STATUS):
                    job = self.job(job_id, messages=0)
                    if job.status in TERMINAL:
                        return job
        raise ClientError(f"the event stream from {self.base_url} ended before job {job_id} finished")


class EventStream:
    """An iterator over ``/events`` that reconnects with ``Last-Event-ID``; close it (or use ``with``).

    ``last_event_id`` always holds the resume point: the id of the last event seen (or the hello cursor).
    """

    def __init__(self, client: Client, last_event_id: str | None, job_type: str | None, reconnect_for: float) -> None:
        self.client = client
        self.last_event_id = last_event_id
        self.job_type = job_type
        self.reconnect_for = reconnect_for
        self.retry = 1.0
        self._types: dict[str, str] = {}
        self._lines: Iterator[str] | None = None
        self._response: httpx.Response | None = None
        self._pending: list[JobEvent | StreamReset] = []
        self._connected = False
        self._closed = False

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> EventStream:
        return self

    def close(self) -> None:
        """End the stream; safe to call from another thread while one is blocked reading it."""
        self._closed = True
        response = self._response
        if response is not None:
            # Closing the response alone does not wake a thread blocked in recv(); shutting the socket does.
            network = response.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._drop()

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = None
        self._lines = None

    def connect(self) -> None:
        """Open the stream and read up to the server's ``hello``, so that later events are not missed."""
        if self._lines is None:
            self._open_with_retries()

    def _open(self) -> None:
        client = self.client
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        params: dict[str, str] = {}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        if self.job_type:
            params["jobType"] = self.job_type
        timeout = httpx.Timeout(client.timeout, read=max(client.timeout, STREAM_READ_TIMEOUT))
        request = client._http.build_request(
            "GET", client._path("/events"), headers=headers, params=params, timeout=timeout
        )
        response = client._http.send(request, stream=True)
        if response.status_code >= 400:
            response.read()
            response.close()
            raise client.error_from(response)
        self._response = response
        self._lines = response.iter_lines()
        # Read the hello (and anything before it) now: once it arrived the server is listening for us.
        for kind, event_id, data in self._frames():
            if kind == "hello":
                cursor = data.get("cursor") if isinstance(data, dict) else None
                if cursor and not self.last_event_id:
                    self.last_event_id = str(cursor)
                return
            item = self._convert(kind, event_id, data)
            if item is not None:
                self._pending.append(item)
                if kind != "reset":
                    return  # a server without hello: keep what came and go on

    def _open_with_retries(self) -> None:
        deadline = time.monotonic() + self.reconnect_for
        while True:
            try:
                self._open()
                self._connected = True
                return
            except httpx.TransportError as exc:
                self._drop()
                # Never connected: the server is not there (or the URL is wrong), say so at once. Once it was,
                # a failure is most likely a restart: keep trying for a while, as a browser's EventSource does.
                if not self._connected or self._closed or time.monotonic() + self.retry > deadline:
                    raise self.client.unreachable(exc) from None
                time.sleep(self.retry)  # the server's ``retry:`` hint

    def _frames(self) -> Iterator[tuple[str, str | None, Any]]:
        """SSE frames (event type, id, parsed data) from the open response; ends when the connection does."""
        if self._lines is None:
            return
        kind = "message"
        data_lines: list[str] = []
        event_id: str | None = None
        for line in self._lines:
            if not line:
                if data_lines:
                    text = "\n".join(data_lines)
                    try:
                        payload: Any = json.loads(text)
                    except json.JSONDecodeError:
                        payload = text
                    if event_id is not None:
                        self.last_event_id = event_id
                    yield kind, event_id, payload
                kind, data_lines, event_id = "message", [], None
                continue
            if line.startswith(":"):
                continue  # a comment: the server's keep-alive ping
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data_lines.append(value)
            elif name == "event":
                kind = value
            elif name == "id" and "\0" not in value:
                event_id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value) / 1000

    def _convert(self, kind: str, event_id: str | None, data: Any) -> JobEvent | StreamReset | None:
        if kind == "reset":
            cursor = data.get("cursor") if isinstance(data, dict) else None
            if cursor:
                self.last_event_id = str(cursor)
            self._types.clear()
            return StreamReset(str(cursor) if cursor else self.last_event_id)
        if not isinstance(data, dict) or "jobId" not in data:
            return None
        try:
            event_type = EventType(data.get("type", kind))
        except ValueError:
            return None  # a kind of event this client does not know yet: skip it rather than fail
        event = JobEvent(str(data.get("id", event_id or "")), event_type, str(data["jobId"]), data.get("data") or {})
        if self.job_type is not None and not self._wanted(event):
            return None
        return event

    def _wanted(self, event: JobEvent) -> bool:
        job_type = event.data.get("jobType")
        if isinstance(job_type, str):
            self._types[event.job_id] = job_type
        elif event.job_id not in self._types:
            try:
                self._types[event.job_id] = self.client.job(event.job_id, messages=0).job_type
            except ClientError:
                return False  # removed, or never visible to us
        return self._types.get(event.job_id) == self.job_type

    def __next__(self) -> JobEvent | StreamReset:
        if self._closed:
            raise StopIteration
        while True:
            if self._lines is None:
                self._open_with_retries()
            if self._pending:
                return self._pending.pop(0)
            try:
                for kind, event_id, data in self._frames():
                    item = self._convert(kind, event_id, data)
                    if item is not None:
                        return item
            except httpx.TransportError:
                pass  # dropped or silent for too long: resume below from last_event_id
            except httpx.StreamClosed:
                raise StopIteration from None
            self._drop()
            if self._closed:
                raise StopIteration
            time.sleep(self.retry)

