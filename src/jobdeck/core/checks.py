"""Argument checks shared by every store: ids, texts, JSON values, progress figures, times.

Every store takes the same text, so that one request gets the same answer whatever the backend. U+0000 (NUL),
which PostgreSQL cannot keep in a text column and which SQLite's string functions stop at, is handled here once:

- in what a request or a caller names or looks up -- ids, job types, authors, owners, search words, claim names,
  params -- it is refused with an :class:`~jobdeck.core.errors.InvalidArgumentError` naming the argument (the API
  answers 400): such a value is a mistake, and guessing what was meant would store something nobody sent;
- in job text -- messages, failure and abort reasons -- it is replaced by U+FFFD (the replacement character), and
  the text is cut to :data:`~jobdeck.core.model.MAX_MESSAGE_CHARS` (:func:`~jobdeck.core.model.clip_message`): what
  a job says is kept, as well as it can be, rather than lose the job's outcome to one character or one huge dump.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from datetime import datetime
from typing import Any

from .errors import InvalidArgumentError
from .jsoncodec import check_json, safe_text
from .model import clip_message, parse_time

__all__ = ["EXTERNAL_OWNER", "TimeLike", "as_timestamp", "check_id", "check_json", "check_message", "check_params",
           "check_progress", "check_text", "new_owner_token"]

TimeLike = float | int | str | datetime
# The owner of a job of an external type: its work runs elsewhere and reports over HTTP.
EXTERNAL_OWNER = "external"


def as_timestamp(value: TimeLike | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a time, not a bool")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            raise InvalidArgumentError(f"{name} must be an ISO 8601 time, got {value!r}") from None
    raise InvalidArgumentError(
        f"{name} must be a time (ISO string, datetime or POSIX seconds), got {type(value).__name__}")


def check_id(job_id: object, name: str = "id") -> str:
    if not isinstance(job_id, str) or not job_id:
        raise InvalidArgumentError(f"job {name} must be a non-empty string, got {job_id!r}", name)
    if "\x00" in job_id:
        raise InvalidArgumentError(f"job {name} {job_id[:80]!r} contains a NUL character (U+0000); no job has one",
                                   name)
    return job_id


def check_text(text: object, name: str = "message") -> str:
    """A string every store and encoder takes, as a request or a caller names something (a job type, an author):
    lone surrogates (not valid Unicode) and NUL characters are refused, naming ``name``."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(text).__name__}", name)
    if "\x00" in text:
        raise InvalidArgumentError(f"{name} {text[:80]!r} contains a NUL character (U+0000), which no store keeps",
                                   name)
    if not text.isascii() and safe_text(text) is not text:
        raise InvalidArgumentError(f"{name} contains a lone surrogate (not valid Unicode text): {text[:80]!r}",
                                   name)
    return text


def check_message(text: object, name: str = "message") -> str:
    """Job text as every store keeps it (a message, a failure or abort reason): NUL characters replaced by
    U+FFFD, cut to :data:`~jobdeck.core.model.MAX_MESSAGE_CHARS` with a visible marker; not a string, or lone
    surrogates, is refused (InvalidArgumentError naming ``name``)."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(text).__name__}", name)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return check_text(clip_message(text), name)


def check_params(params: Any) -> Any:
    """Params as :func:`check_json` takes them, and without NUL in any string or key (request input)."""
    return check_json(params, "params", nul=False)


def check_progress(value: object) -> float:
    """Clamp to [0, 1]; NaN and non-numbers are a ValueError."""
    if type(value) is float and 0.0 <= value <= 1.0:  # the common case, in hot loops (NaN fails the test)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(f"progress must be a number between 0 and 1, got {type(value).__name__}")
    if math.isnan(value):
        raise InvalidArgumentError("progress must be a number between 0 and 1, got NaN")
    return 0.0 if value < 0 else 1.0 if value > 1 else float(value)


def new_owner_token() -> str:
    """Identifies this process to other processes sharing a store: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

