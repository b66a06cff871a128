"""Argument checks shared by every store: ids, texts, JSON values, progress figures, times."""

from __future__ import annotations

import math
import os
import socket
import uuid
from datetime import datetime

from .._json import check_json, safe_text
from ..errors import InvalidArgumentError
from ..model import parse_time

__all__ = ["EXTERNAL_OWNER", "TimeLike", "as_timestamp", "check_id", "check_json", "check_progress", "check_text",
           "new_owner_token", "redact_url"]

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


def check_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not job_id:
        raise InvalidArgumentError(f"job id must be a non-empty string, got {job_id!r}")
    return job_id


def check_text(text: object, name: str = "message") -> str:
    """A string every store and encoder takes: lone surrogates (not valid Unicode) are refused."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(text).__name__}", name)
    if not text.isascii() and safe_text(text) is not text:
        raise InvalidArgumentError(f"{name} contains a lone surrogate (not valid Unicode text): {text[:80]!r}",
                                   name)
    return text


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


def redact_url(url: str) -> str:
    """The URL without its password, for messages, logs and banners."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("://", 1)[0] + "://..." if "@" in url else url
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
