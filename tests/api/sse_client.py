"""A small blocking SSE reader for tests: frames from a streaming httpx response, each read under a deadline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    event: str
    id: str | None
    data: Any
    comments: list[str] = field(default_factory=list)


class SSEReader:
    """``with SSEReader(url, headers) as sse: sse.next_frame()``; the read timeout bounds every wait."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                 timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(timeout))
        self._cm = self._client.stream("GET", url, headers=headers or {}, params=params)
        self.response = self._cm.__enter__()
        self._lines: Iterator[str] = self.response.iter_lines()
        self.retry: str | None = None
        self.comments: list[str] = []

    def __enter__(self) -> SSEReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self._client.close()

    def next_frame(self) -> Frame:
        event, event_id, data = "message", None, []
        for line in self._lines:
            if not line:
                if data:
                    return Frame(event, event_id, json.loads("\n".join(data)))
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)
            elif name == "retry":
                self.retry = value
        raise EOFError("the stream ended")

    def frames_until(self, predicate: Any, limit: int = 10_000) -> list[Frame]:
        """Frames up to and including the first one ``predicate`` accepts."""
        got = []
        for _ in range(limit):
            frame = self.next_frame()
            got.append(frame)
            if predicate(frame):
                return got
        raise AssertionError(f"no matching frame among {limit}")

    def wait_comment(self, text: str) -> None:
        """Read until a comment line ``text`` arrives (frames in between are dropped)."""
        for line in self._lines:
            if line == text:
                return
        raise EOFError("the stream ended")
