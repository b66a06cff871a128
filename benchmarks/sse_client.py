"""The SSE load: N raw asyncio socket clients in one process (httpx would saturate a core at 1,000 streams).

    python -m benchmarks.sse_client --port P --clients 1000 --count 100 --rate 10 --server-pid PID [--token T]

Opens N ``/events`` streams, waits until every one got its ``hello``, starts the ``bench-ticker`` job through
``POST /start`` (which makes ``count`` progress changes, ``rate`` a second, each value the time it was set), and
reads until every client saw the job end (or a deadline). Prints one JSON object: per-client counts of progress
events, resets and errors, the delay percentiles from change to receipt, and the server's CPU seconds over the
emission window. Frames are parsed just enough: the ``event:`` line, and ``progress`` in ``data:``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Any

from .servers import PREFIX, SPAN
from .timing import cpu_seconds, percentile, raise_fd_limit

_PROGRESS = re.compile(rb'"progress":([0-9.eE+-]+)')


class Stream(asyncio.Protocol):
    """One SSE connection. Records receipt delays of progress events; notes hello, resets and the end."""

    def __init__(self, request: bytes, t0: float, delays: list[float]) -> None:
        self.request = request
        self.t0 = t0
        self.delays = delays
        self.buffer = b""
        self.headers_done = False
        self.status = 0
        self.progress = 0
        self.resets = 0
        self.hello = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.headers_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            self.status = int(head.split(b" ", 2)[1])
            self.headers_done = True
            if self.status != 200:
                self._finish(f"status {self.status}")
                return
            if b"chunked" in head.lower():
                self.chunked = True
        *frames, self.buffer = self.buffer.split(b"\n\n")
        for frame in frames:
            self._frame(frame, now)

    chunked = False

    def _frame(self, frame: bytes, now: float) -> None:
        # Chunked transfer framing (size lines) may sit between frames: look for the fields, ignore the rest.
        if b"event: progress" in frame:
            match = _PROGRESS.search(frame)
            if match:
                self.progress += 1
                self.delays.append(now - (self.t0 + float(match.group(1)) * SPAN))
        elif b"event: hello" in frame:
            if not self.hello.done():
                self.hello.set_result(None)
        elif b"event: reset" in frame:
            self.resets += 1
        elif b"event: status" in frame and b'"completed"' in frame:
            self._finish(None)

    def _finish(self, error: str | None) -> None:
        if not self.done.done():
            self.done.set_result(error)
        if not self.hello.done():
            self.hello.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(f"connection lost: {exc}" if exc else "connection closed")


async def _post_start(port: int, token: str | None, params: dict[str, Any]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"jobType": "bench-ticker", "params": params}).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write((f"POST {PREFIX}/start HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
                 .encode() + body)
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split(b" ", 2)[1])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    t0 = time.time() - 1.0
    auth = f"Authorization: Bearer {args.token}\r\n" if args.token else ""
    request = (f"GET {PREFIX}/events HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n{auth}"
               "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n").encode()
    delays: list[float] = []
    streams: list[Stream] = []
    connect_errors = 0
    for start in range(0, args.clients, 100):  # in batches: the listen backlog is finite
        batch = []
        for _ in range(min(100, args.clients - start)):
            batch.append(loop.create_connection(lambda: Stream(request, t0, delays), "127.0.0.1", args.port))
        for result in await asyncio.gather(*batch, return_exceptions=True):
            if isinstance(result, BaseException):
                connect_errors += 1
            else:
                streams.append(result[1])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(s.hello for s in streams)), 60)
    ready = sum(1 for s in streams if s.hello.done() and not s.done.done())
    cpu_before = cpu_seconds(args.server_pid)
    started = time.monotonic()
    status = await _post_start(args.port, args.token, {"count": args.count, "rate": args.rate, "t0": t0})
    deadline = args.count / args.rate + 20
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(s.done for s in streams)), deadline)
    window = time.monotonic() - started
    cpu = cpu_seconds(args.server_pid) - cpu_before
    for s in streams:
        if s.transport is not None:
            s.transport.close()
    counts = [s.progress for s in streams]
    errors = [s.done.result() for s in streams if s.done.done() and s.done.result()]
    unfinished = sum(1 for s in streams if not s.done.done())
    return {
        "clients": args.clients,
        "connected": len(streams),
        "connect_errors": connect_errors,
        "ready": ready,
        "start_status": status,
        "expected_per_client": args.count,
        "complete_clients": sum(1 for c in counts if c == args.count),
        "min_events": min(counts) if counts else 0,
        "max_events": max(counts) if counts else 0,
        "resets": sum(s.resets for s in streams),
        "errors": errors[:5],
        "error_count": len(errors),
        "unfinished": unfinished,
        "delivered": sum(counts),
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "max": max(delays) if delays else 0.0,
        "server_cpu_s": cpu,
        "window_s": window,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sse_client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--token")
    args = parser.parse_args()
    raise_fd_limit(args.clients + 256)
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
