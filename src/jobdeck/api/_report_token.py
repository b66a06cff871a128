"""Job-scoped report tokens: what a process running an external job sends instead of the admin token.

A report token is ``jdr1_`` + base64url(HMAC-SHA256(secret, "jobdeck report token v1:" + job id)). It is
checked by the report endpoints of that one job only (``/single/{id}/report``, ``/complete``, ``/fail``,
``/aborted``); every other endpoint compares credentials with the admin token or asks the host's ``auth``, so
there a report token is just a wrong token (403). Once the job has ended its report endpoints answer 409, so
the token grants nothing more.

Nothing is stored: any server process that knows the secret accepts the token, so several servers on one
shared store (behind a load balancer, or one restarted) accept the tokens each other issued. The secret is
``report_secret`` (``JOBDECK_REPORT_SECRET``) or, without one, derived from the admin token (servers that share
a token share it); with neither (an ``auth`` function only) a random one per app, good for one process only.
Changing the secret (or the token it is derived from) revokes every report token issued before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["REPORT_TOKEN_PREFIX", "ReportTokens"]

REPORT_TOKEN_PREFIX = "jdr1_"  # noqa: S105 -- a marker, not a secret
_CONTEXT = b"jobdeck report token v1:"
_DERIVE = b"jobdeck report-token secret, derived from the admin token"


class ReportTokens:
    """Issues and checks report tokens with one secret."""

    def __init__(self, secret: str | bytes | None = None, admin_token: str | None = None) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if secret is not None and len(secret) < 16:
            raise ValueError("report_secret must be at least 16 characters")
        if secret is None and admin_token is not None:
            secret = hmac.new(admin_token.encode(), _DERIVE, hashlib.sha256).digest()
        self._key = secret if secret is not None else secrets.token_bytes(32)

    def __repr__(self) -> str:  # the secret stays out
        return "ReportTokens(...)"

    def issue(self, job_id: str) -> str:
        """The report token of ``job_id``."""
        digest = hmac.new(self._key, _CONTEXT + job_id.encode(), hashlib.sha256).digest()
        return REPORT_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def valid(self, job_id: str, supplied: str) -> bool:
        """Whether ``supplied`` is the report token of ``job_id`` (constant-time comparison)."""
        return hmac.compare_digest(supplied.encode("utf-8", "surrogateescape"), self.issue(job_id).encode())
