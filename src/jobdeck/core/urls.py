"""URLs as jobdeck reads them: one parser for jobdeck's own query options, one redactor for messages.

Every store and executor is named by a URL whose query mixes jobdeck's options (``?prefix=``, ``?queue=``,
``?pool_size=``) with the driver's (``sslmode``, ``application_name``, a Redis ``db``...). :func:`split_options`
takes jobdeck's out, typed, with one clear line for a bad value, and leaves the driver's exactly as written (no
decoding and re-encoding: ``application_name=a%20b`` reaches libpq as the user spelled it). :func:`redact_url` is
the URL as every message, log line and banner shows it: never the password.

Stdlib only and no I/O: the bottom layer, usable from stores, executors and the command line alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from .errors import JobdeckError

__all__ = ["FLAG", "FLOAT", "INT", "NUMBER", "TEXT", "Kind", "redact_url", "split_options"]

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# Query options that carry a secret (libpq takes ``?password=``, redis-py too).
_SECRET_OPTIONS = ("password", "sslpassword")


def _flag(text: str) -> bool:
    low = text.lower()
    if low not in _TRUE + _FALSE:
        raise ValueError(text)
    return low in _TRUE


@dataclass(frozen=True)
class Kind:
    """What an option's value must be: ``read`` turns the text into it (ValueError if it cannot), ``noun`` ends the
    error line: "... is not a <noun>"."""

    noun: str
    read: Callable[[str], Any]


TEXT = Kind("string", str)
INT = Kind("valid int", int)
FLOAT = Kind("valid float", float)
NUMBER = Kind("number", float)  # a float, in the SQLite store's wording
FLAG = Kind("valid bool", _flag)  # 1/true/yes/on or 0/false/no/off, any case


def split_options(url: str, known: Mapping[str, Kind], *, label: str, error: type[JobdeckError],
                  strict: bool = False) -> tuple[str, dict[str, Any]]:
    """Take the options ``known`` names out of ``url``'s query: (the URL without them, {option: typed value}).

    The other query fields stay in the URL exactly as written, in their order, for the driver; with ``strict`` an
    unknown option is an error instead. A repeated option: the last one counts. Errors are ``error`` and name the
    URL's kind (``label``: "SQLite", "PostgreSQL") and the option, never the password::

        >>> split_options("redis://h/0?prefix=a&db=1", {"prefix": TEXT}, label="Redis", error=JobdeckError)
        ('redis://h/0?db=1', {'prefix': 'a'})
    """
    base, qmark, rest = url.partition("?")
    if not qmark:
        return url, {}
    query, hash_mark, fragment = rest.partition("#")
    options: dict[str, Any] = {}
    kept = []
    for field in query.split("&"):
        if not field:
            continue
        raw_key, _, raw_value = field.partition("=")
        key, value = unquote_plus(raw_key), unquote_plus(raw_value)
        kind = known.get(key)
        if kind is None:
            if strict:
                raise error(f"unknown {label} URL option {key!r} in {redact_url(url)!r}; known: {', '.join(known)}")
            kept.append(field)
            continue
        try:
            options[key] = kind.read(value)
        except ValueError:
            raise error(f"{label} URL option {key}={value!r} is not a {kind.noun}") from None
    query = "&".join(kept)
    return base + (f"?{query}" if query else "") + hash_mark + fragment, options


def redact_url(url: str) -> str:
    """``url`` without its password (``user:***@host``, and ``***`` for a ``password=`` query option), for
    messages, logs and banners. A URL too malformed to take apart shows only its scheme if it may hold one."""
    try:
        parts = urlsplit(url)
        password = parts.password
        port = parts.port
    except ValueError:
        return url.split("://", 1)[0] + "://..." if "@" in url else url
    query = parts.query
    if query:
        query = "&".join(_redact_field(field) for field in query.split("&"))
    if password is None and query == parts.query:
        return url
    netloc = parts.netloc
    if password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _redact_field(field: str) -> str:
    key, equals, _ = field.partition("=")
    return f"{key}=***" if equals and unquote_plus(key).lower() in _SECRET_OPTIONS else field
