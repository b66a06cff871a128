"""Who is asking: a host application's ``auth`` callable, or jobdeck's own bearer token.

- ``auth(request) -> principal | None`` (sync or async): the embedding application decides; None is a 401.
- ``token``: ``Authorization: Bearer <token>`` or the ``jobdeck_token`` cookie the login page sets
  (HttpOnly, SameSite=Strict). No credentials is a 401, a wrong token a 403; compared in constant time. Wrong
  tokens from one address slow that address down (429, :mod:`jobdeck.api.throttle`).
- Neither: no authentication (for embedding behind the host's own protection, or ``serve --no-auth``).

The principal becomes the default author of the jobs a request starts.
"""

from __future__ import annotations

import hmac
import inspect
import math
from collections.abc import Callable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from .errors import ApiError
from .throttle import Backoff

__all__ = ["COOKIE_NAME", "AuthFunc", "Authenticator", "clear_token_cookie", "principal_name", "set_token_cookie"]

COOKIE_NAME = "jobdeck_token"
ANONYMOUS = "anonymous"
BEARER_PRINCIPAL = "admin"

AuthFunc = Callable[[Any], Any]


def principal_name(principal: Any) -> str:
    """A readable name for whatever ``auth`` returned: the string itself, or an ``email``/``username``/``name``
    attribute or key, else ``str(principal)``."""
    if isinstance(principal, str):
        return principal
    for key in ("email", "username", "name"):
        value = principal.get(key) if isinstance(principal, dict) else getattr(principal, key, None)
        if isinstance(value, str) and value:
            return value
    return str(principal)


class Authenticator:
    """Checks a request's credentials; raises :class:`ApiError` 401/403 or returns the principal's name."""

    def __init__(self, auth: AuthFunc | None = None, token: str | None = None) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty string")
        if auth is not None and not callable(auth):
            raise ValueError("auth must be a callable (request) -> principal | None")
        self.auth = auth
        self._token = token.encode() if token is not None else None
        self.backoff = Backoff()

    @property
    def enabled(self) -> bool:
        return self.auth is not None or self._token is not None

    @property
    def uses_token(self) -> bool:
        return self._token is not None

    def token_matches(self, supplied: str) -> bool:
        """Constant-time comparison with the configured token (False when there is none)."""
        if self._token is None:
            return False
        return hmac.compare_digest(supplied.encode("utf-8", "surrogateescape"), self._token)

    def check_token(self, conn: HTTPConnection, supplied: str) -> bool:
        """:meth:`token_matches` for a request, through the client's backoff: ApiError(429) while the client's
        address is locked out after too many wrong tokens."""
        client = conn.client.host if conn.client else "-"
        wait = self.backoff.wait(client)
        if wait > 0:
            seconds = str(math.ceil(wait))
            raise ApiError(429, f"too many wrong tokens from this address: retry in {seconds}s",
                           {"Retry-After": seconds})
        if self.token_matches(supplied):
            self.backoff.succeeded(client)
            return True
        self.backoff.failed(client)
        return False

    @staticmethod
    def supplied_token(conn: HTTPConnection) -> str | None:
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        return conn.cookies.get(COOKIE_NAME) or None

    async def authenticate(self, conn: HTTPConnection) -> str:
        """The principal's name, or ApiError(401) without credentials / ApiError(403) with wrong ones."""
        if self.auth is None and self._token is None:
            return ANONYMOUS
        if self.auth is not None:
            principal = self.auth(conn)
            if inspect.isawaitable(principal):
                principal = await principal
            if principal is not None:
                return principal_name(principal)
        if self._token is not None:
            supplied = self.supplied_token(conn)
            if supplied is None:
                raise ApiError(401, "authentication required: send 'Authorization: Bearer <token>' or log in",
                               {"WWW-Authenticate": "Bearer"})
            if self.check_token(conn, supplied):
                return BEARER_PRINCIPAL
            raise ApiError(403, "wrong token")
        raise ApiError(401, "authentication required")


def set_token_cookie(response: Response, token: str, secure: bool) -> None:
    """The browser keeps the token in an HttpOnly, SameSite=Strict cookie (no script can read it)."""
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict", path="/", secure=secure)


def clear_token_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=secure)
