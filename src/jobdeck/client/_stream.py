"""``/events`` as an iterator: Server-Sent Events parsed from the response lines, resumed with Last-Event-ID.

The parser follows the SSE rules a browser's ``EventSource`` applies: ``id``/``event``/``data``/``retry``
fields, ``:`` comments (the server's keep-alive pings), several ``data`` lines joined with newlines, a blank
line ending an event.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ..core.errors import ClientError
from ..core.events import EventType, JobEvent

if TYPE_CHECKING:
    from ._http import Client

__all__ = ["EventStream", "StreamReset"]

# The server sends a ping comment every 15 s; a stream silent for much longer than that is dead.
STREAM_READ_TIMEOUT = 45.0
# Job types remembered for filtering by type (a job's later events may not name it). A watch can run for weeks
# through any number of jobs; beyond this many the least recently seen job is forgotten (and looked up again
# should it send another event without its type), and a removed job at once.
MAX_KNOWN_TYPES = 4096


@dataclass(frozen=True, slots=True)
class StreamReset:
    """Yielded by :class:`EventStream` when the server lost the resume point: reload state, then go on."""

    cursor: str | None


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
        self._types: OrderedDict[str, str] = OrderedDict()  # job id -> job type, bounded (MAX_KNOWN_TYPES)
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
        if not isinstance(job_type, str):
            job_type = self._types.get(event.job_id)
        if job_type is None:
            try:
                job_type = self.client.job(event.job_id, messages=0).job_type
            except ClientError:
                return False  # removed, or never visible to us
        if event.type is EventType.REMOVED:
            self._types.pop(event.job_id, None)  # the job is gone: nothing more comes from it
        else:
            self._types[event.job_id] = job_type
            self._types.move_to_end(event.job_id)
            while len(self._types) > MAX_KNOWN_TYPES:
                self._types.popitem(last=False)
        return job_type == self.job_type

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

