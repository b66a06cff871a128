"""Turning jobs into response bytes, and the query values that shape them.

List endpoints are the hot path: jobs go through ``JobInfo.to_dict`` and orjson straight into a raw
``Response``, never through a pydantic response model (the OpenAPI schema is documented separately, see
:mod:`jobdeck.api._schemas`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response

from ..core.checks import check_text
from ..core.jsoncodec import dumps
from ..core.model import JobMessage, format_time, parse_time
from ._answers import Answer
from ._errors import ApiError

__all__ = [
    "MessagesView",
    "answer_response",
    "json_response",
    "message_page",
    "parse_job_id",
    "parse_messages",
    "parse_time_param",
    "refuse_nul",
]

JSON = "application/json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type=JSON, headers=headers)


class MessagesView:
    """The ``messages`` query value: ``all`` (default, the reference shape), ``none`` or ``last:N``.

    ``load`` says whether the store must read message lists at all; ``keep`` is ``JobInfo.to_dict``'s argument;
    ``messages`` is the stores' (True all, N the newest N of each kind), so that the store reads only those.
    """

    __slots__ = ("keep", "load", "messages")

    def __init__(self, load: bool, keep: int | None) -> None:
        self.load = load
        self.keep = keep
        self.messages: bool | int = True if keep is None else keep


_ALL = MessagesView(True, None)
_NONE = MessagesView(False, 0)


def parse_messages(value: str | None) -> MessagesView:
    if value is None or value == "all":
        return _ALL
    if value == "none":
        return _NONE
    text = value.removeprefix("last:")
    if text.isascii() and text.isdigit() and len(text) < 9:
        count = int(text)
        return MessagesView(count > 0, count)
    raise ApiError(400, f"messages must be 'all', 'none' or 'last:N' (N a whole number), got {value!r}")


def refuse_nul(field: str, value: str | None) -> str | None:
    """Text a request gives as input (search words, job types, authors) checked at the API's door by the stores'
    own rule (:func:`jobdeck.core.checks.check_text`: no U+0000, valid Unicode), naming the request's ``field``.

    The stores refuse the same text for every caller; checking it here too names the field as the request spells
    it (``jobType``, not the store's ``job_type``) and keeps a bad query value from reaching the store at all.
    Applied where the API reads such a value: query parameters in the routes, body fields in
    :mod:`jobdeck.api._schemas`. (Text a job reports about itself is the store's to clean, not the request's to
    refuse.)
    """
    return None if value is None else check_text(value, field)


def answer_response(answer: Answer) -> Response:
    """A 200 JSON response with a (possibly cached) answer's body and headers."""
    return Response(answer.body, media_type=JSON, headers=answer.headers)


def parse_job_id(job_id: str) -> str:
    """The canonical (lower-case, hyphenated) form of a UUID job id; 400 for anything else."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        raise ApiError(400, f"malformed job id {job_id[:80]!r}: job ids are UUIDs") from None


def parse_time_param(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 time such as 2026-01-01T00:00:00.000Z, "
                            f"got {value[:80]!r}") from None


def _millis(ts: float) -> int:
    # Messages are compared at the millisecond precision of their ISO form, derived from that very text so
    # that a ``next`` value read back from JSON selects exactly the messages after the page it ended.
    return _text_millis(format_time(ts) or "")


def _text_millis(text: str) -> int:
    """Milliseconds since the epoch of an ISO time, in exact integer arithmetic (a float loses the last
    millisecond at today's magnitudes)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)


def message_page(messages: list[JobMessage], since: str | None, limit: int) -> dict[str, Any]:
    """``{"messages": [...], "next": ISO | None}``: messages after ``since``, oldest first.

    A page never ends in the middle of a millisecond (it grows past ``limit`` instead), so that asking again
    with ``since=next`` neither repeats nor skips a message.
    """
    if since is not None:
        try:
            floor = _text_millis(since)
        except ValueError:
            raise ApiError(400, f"since must be an ISO 8601 time such as 2026-01-01T00:00:00.000Z, "
                                f"got {since[:80]!r}") from None
        messages = [m for m in messages if _millis(m.timestamp) > floor]
    if len(messages) <= limit:
        return {"messages": [m.to_dict() for m in messages], "next": None}
    end = limit
    last = _millis(messages[end - 1].timestamp)
    while end < len(messages) and _millis(messages[end].timestamp) == last:
        end += 1
    page = messages[:end]
    return {"messages": [m.to_dict() for m in page],
            "next": format_time(page[-1].timestamp) if end < len(messages) else None}
