"""The SSE parser and resume logic of ``EventStream`` on bytes the jobdeck server never sends but SSE allows.

A real loopback HTTP server (a socket, written by hand) serves crafted streams: CRLF line endings, comments,
multi-line ``data``, ``retry``, unknown event kinds, a closed connection, a reset.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from jobdeck import Client, ClientError, EventType, JobEvent
from jobdeck.client import StreamReset
from jobdeck.client._stream import MAX_KNOWN_TYPES

FIRST = (
    b"retry: 50\r\n\r\n"
    b"event: hello\r\ndata: {\"cursor\": \"5\"}\r\nid: 5\r\n\r\n"
    b": ping\r\n\r\n"
    b"id: 6\r\nevent: progress\r\n"
    b"data: {\"id\": \"6\", \"type\": \"progress\",\r\n"
    b"data:  \"jobId\": \"j1\", \"data\": {\"progress\": 0.5}}\r\n\r\n"
    b"id: 7\nevent: future-kind\ndata: {\"id\": \"7\", \"type\": \"future-kind\", \"jobId\": \"j1\", \"data\": {}}\n\n"
)
SECOND = (
    b"event: hello\ndata: {\"cursor\": \"9\"}\n\n"
    b"id: 8\nevent: message\ndata: {\"id\": \"8\", \"type\": \"message\", \"jobId\": \"j1\", "
    b"\"data\": {\"message\": {\"type\": \"info\", \"message\": \"two\\nlines\", \"timestamp\": null}}}\n\n"
    b"id: 20\nevent: reset\ndata: {\"cursor\": \"20\"}\n\n"
)


class CraftedServer:
    """Answers the n-th connection with ``bodies[n]`` as an event stream, then closes it."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.requests: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for body in self.bodies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                self.requests.append(request.decode())
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                             + body)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def crafted() -> Iterator[CraftedServer]:
    server = CraftedServer([FIRST, SECOND])
    yield server
    server.close()


def test_sse_fields_comments_multiline_data_and_resume(crafted: CraftedServer) -> None:
    with Client(f"http://127.0.0.1:{crafted.port}", token="t", timeout=5) as client, \
            client.iter_events(reconnect_for=10) as stream:
        stream.connect()
        assert stream.last_event_id == "5"  # the hello's id
        first = next(stream)
        assert first == JobEvent("6", EventType.PROGRESS, "j1", {"progress": 0.5})  # two data lines joined
        assert stream.retry == 0.05
        # Event 7 is of a kind this client does not know: skipped, but it still moves the resume point. Then
        # the server closes the connection; the stream reconnects and resumes after 7.
        second = next(stream)
        assert second.id == "8" and second.type is EventType.MESSAGE  # type: ignore[union-attr]
        assert second.data["message"]["message"] == "two\nlines"  # type: ignore[union-attr]
        third = next(stream)
        assert third == StreamReset("20")
        assert stream.last_event_id == "20"
    assert len(crafted.requests) == 2
    assert "last-event-id: 7" not in crafted.requests[0].lower()
    assert "last-event-id: 7\r\n" in crafted.requests[1].lower()
    assert "authorization: bearer t\r\n" in crafted.requests[1].lower()


def test_a_server_gone_for_good_ends_the_stream_with_client_error() -> None:
    server = CraftedServer([FIRST])  # one connection, then nothing listens
    port = server.port
    try:
        with Client(f"http://127.0.0.1:{port}", timeout=1) as client, \
                client.iter_events(reconnect_for=0.5) as stream:
            assert next(stream).id == "6"  # type: ignore[union-attr]
            server.close()
            with pytest.raises(ClientError) as info:
                next(stream)
    finally:
        server.close()
    assert info.value.status_code is None
    assert str(info.value).startswith(f"cannot reach jobdeck at http://127.0.0.1:{port}: ")


def test_filtering_by_type_remembers_a_bounded_number_of_jobs() -> None:
    # A watch through more jobs than the memo holds: it stays at its bound, the newest jobs stay known (a later
    # event without a type needs no lookup), and a removed job is forgotten.
    count = MAX_KNOWN_TYPES + 500
    body = b"event: hello\ndata: {\"cursor\": \"0\"}\n\n" + b"".join(
        b"id: %d\nevent: created\ndata: {\"id\": \"%d\", \"type\": \"created\", \"jobId\": \"j%d\", "
        b"\"data\": {\"jobType\": \"%s\"}}\n\n" % (n + 1, n + 1, n, b"A" if n % 2 == 0 else b"B")
        for n in range(count))
    last = count - 2  # a type-A job, among the newest
    body += b"id: %d\nevent: removed\ndata: {\"id\": \"%d\", \"type\": \"removed\", \"jobId\": \"j%d\", " \
            b"\"data\": {}}\n\n" % (count + 1, count + 1, last)
    server = CraftedServer([body])
    try:
        with Client(f"http://127.0.0.1:{server.port}", token="t", timeout=5) as client, \
                client.iter_events(job_type="A", reconnect_for=1) as stream:
            seen = [next(stream) for _ in range(count // 2 + 1)]
            assert all(isinstance(e, JobEvent) for e in seen)
            assert seen[-1] == JobEvent(str(count + 1), EventType.REMOVED, f"j{last}", {})  # no lookup needed
            assert len(stream._types) == MAX_KNOWN_TYPES - 1  # at the bound, less the removed job
            assert f"j{last}" not in stream._types and f"j{count - 1}" in stream._types
            assert "j0" not in stream._types
    finally:
        server.close()
    assert len(server.requests) == 1  # the stream only: no job was looked up
