"""A failure's signature: what failed jobs with one cause have in common, so that they can be grouped.

A failed job's error message is ``ExceptionType: text`` (what the runner records for a handler that raised) or
a sentence of jobdeck's own (``Job did not stop within 30s ...``). Its signature is the exception type and the
first line of the text with what differs from one occurrence to the next normalised away: UUIDs and long hex
ids, quoted values, file paths and URLs, e-mail addresses and numbers, in that order (a UUID is not read as
numbers, a path's digits are not read as numbers)::

    >>> signature_of("KeyError: 'user_42'")
    "KeyError: '<str>'"
    >>> signature_of("TimeoutError: host 10.0.0.7 did not answer in 30.5 s")
    'TimeoutError: host <n> did not answer in <n> s'

Pure text in, text out: no I/O, so that every store computes the same signature when a job fails.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SIGNATURE_CHARS", "error_type", "signature_of"]

MAX_SIGNATURE_CHARS = 300
NO_MESSAGE = "(no error message)"

# ``pkg.mod.ErrorName:`` at the start of the text: a dotted Python name directly followed by a colon.
_TYPE = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):(?:\s|$)")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    # Quoted values: what a message quotes is the value that differs (a key, a name, a path given as argument).
    (re.compile(r"'[^'\n]*'"), "'<str>'"),
    (re.compile(r'"[^"\n]*"'), '"<str>"'),
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+"), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    # A POSIX path (two parts at least, so that "a/b" in prose stays) or a Windows one.
    (re.compile(r"(?:(?<=\s)|^)(?:~|\.{1,2})?(?:/[^\s/:,;)\]]+){2,}/?"), "<path>"),
    (re.compile(r"\b[A-Za-z]:\\[^\s:,;]*"), "<path>"),
    # Hex ids: 0x-prefixed, or 8+ hex digits with at least one digit and one letter (a short job id, a hash).
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    # A number, and a run of numbers joined by dots or colons (an address, a version, a time of day) as one.
    (re.compile(r"(?<![\w<])[-+]?\d+(?:[.:]\d+)*(?:[eE][-+]?\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def error_type(text: str | None) -> str | None:
    """The exception type that starts an error message (``ValueError`` of ``ValueError: bad``), or None."""
    if not text:
        return None
    match = _TYPE.match(text.strip())
    return match[1] if match else None


def signature_of(text: str | None) -> str:
    """The signature of a failed job's error message (see the module docstring); ``(no error message)`` for
    a failure that gave none. At most :data:`MAX_SIGNATURE_CHARS` characters."""
    if text is None or not text.strip():
        return NO_MESSAGE
    first = text.strip().splitlines()[0].strip()
    kind = error_type(first)
    rest = first[len(kind) + 1:].strip() if kind else first
    for pattern, replacement in _RULES:
        rest = pattern.sub(replacement, rest)
    rest = rest.strip()
    signature = f"{kind}: {rest}" if kind and rest else (kind or rest)
    return signature[:MAX_SIGNATURE_CHARS]
