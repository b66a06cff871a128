"""Named credentials: ``NAME=SECRET`` tokens, so that what a person does is recorded under their name.

A token given as ``alice=0f3c...`` is the credential of ``alice``: jobs she starts have the author ``alice``, jobs
she aborts are ``abortedBy`` ``alice``. A token without a name is the shared one, recorded as its role (``admin``,
``viewer``). A value is a named token when the part before the first ``=`` is a name (a letter, then letters,
digits and ``._@+-``, at most 64) and the rest is not empty and does not start with ``=``, so that a base64 token
ending in ``==`` stays a plain token.

A tokens file has one credential a line, ``NAME=SECRET`` (an admin) or ``NAME=SECRET viewer`` (read-only);
blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import re

from .errors import InvalidArgumentError

__all__ = ["NAME_RULE", "check_name", "parse_tokens_file", "split_named"]

NAME_RULE = "a letter, then letters, digits or ._@+- (at most 64)"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._@+-]{0,63}")


def check_name(name: object) -> str:
    """``name`` when it is a credential's name, else InvalidArgumentError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(f"a token's name must be {NAME_RULE}, got {name!r}")
    return name


def split_named(value: str) -> tuple[str | None, str]:
    """``("alice", "s3cret")`` for ``"alice=s3cret"``; ``(None, value)`` for a token without a name."""
    name, sep, secret = value.partition("=")
    if sep and secret and not secret.startswith("=") and _NAME.fullmatch(name):
        return name, secret
    return None, value


def parse_tokens_file(text: str, source: str = "tokens file") -> tuple[dict[str, str], dict[str, str]]:
    """``(admins, viewers)``, each ``{name: secret}``, from a tokens file's text; InvalidArgumentError naming the
    line (never its secret) for a line that is not ``NAME=SECRET [admin|viewer]`` or a name given twice."""
    admins: dict[str, str] = {}
    viewers: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        role = parts[1] if len(parts) == 2 else "admin"
        name, secret = split_named(parts[0])
        if name is None or len(parts) > 2 or role not in ("admin", "viewer"):
            raise InvalidArgumentError(f"{source} line {number}: expected NAME=SECRET, optionally followed by "
                                       "'viewer' (the name is " + NAME_RULE + ")")
        if name in admins or name in viewers:
            raise InvalidArgumentError(f"{source} line {number}: the name {name!r} is given twice")
        (viewers if role == "viewer" else admins)[name] = secret
    return admins, viewers
