"""Every error the API answers is JSON ``{"error": "<what was wrong>"}`` with a fitting status.

Input problems are 4xx with a message naming the field; jobdeck errors map to their status here, in one table.
An unexpected exception is logged by the access-log middleware and answered with a generic 500 that carries no
details (see :mod:`jobdeck.api._middleware`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import (
    AmbiguousJobIdError,
    ExecutorError,
    InvalidArgumentError,
    InvalidParamsError,
    JobConflictError,
    JobdeckError,
    JobFinishedError,
    JobNotFoundError,
    ScheduleConflictError,
    ScheduleNotFoundError,
    StoreError,
    UnknownJobTypeError,
)
from ..core.jsoncodec import dumps

__all__ = ["ApiError", "error_response", "install_error_handlers", "validation_message"]


class ApiError(HTTPException):
    """An HTTP error with a message for the client: ``raise ApiError(400, "limit must be positive")``."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, message, headers)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> Response:
    """The JSON error body every failing request gets (``extra`` fields beside ``error``, e.g. ``status``)."""
    body = dumps({"error": message, **extra})
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def validation_message(errors: Any) -> str:
    """Pydantic/FastAPI error list -> ``"query.limit: Input should be a valid integer; ..."``."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            msg = f"malformed JSON: {ctx.get('error', msg)}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


# jobdeck error class -> HTTP status; the first match wins, so subclasses come first
_STATUS: tuple[tuple[type[JobdeckError], int], ...] = (
    (JobNotFoundError, 404),
    (ScheduleNotFoundError, 404),
    (ScheduleConflictError, 409),
    (InvalidParamsError, 400),
    (AmbiguousJobIdError, 400),
    (InvalidArgumentError, 400),
    (UnknownJobTypeError, 404),
    (JobConflictError, 409),
    (JobFinishedError, 409),
    (StoreError, 503),
    (ExecutorError, 503),
)


async def _jobdeck_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StoreError):
        metrics = getattr(getattr(request.app.state, "deck", None), "metrics", None)
        if metrics is not None:
            metrics.store_failed()
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 503)
    extra: dict[str, Any] = {}
    if isinstance(exc, JobConflictError):
        extra["activeJobIds"] = exc.active_ids
    if isinstance(exc, UnknownJobTypeError):
        extra["knownTypes"] = exc.known
    if isinstance(exc, InvalidParamsError):
        extra["field"] = exc.field
    elif isinstance(exc, InvalidArgumentError) and exc.argument:
        extra["field"] = exc.argument
    if isinstance(exc, AmbiguousJobIdError):
        extra["candidates"] = exc.candidates
    if isinstance(exc, JobFinishedError):
        extra["status"] = exc.status
    return error_response(status, str(exc), **extra)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only; narrows the type
        raise exc
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.url.path}"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"method {request.method} is not allowed on {request.url.path}"
    extra: dict[str, Any] = {}
    required_role = getattr(exc, "required_role", None)
    if required_role is not None:  # a refusal by role (see _roles.py): say which role would be allowed
        extra["requiredRole"] = required_role
    return error_response(exc.status_code, detail, headers=dict(exc.headers or {}), **extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError | ValidationError):
        raise exc
    return error_response(400, validation_message(exc.errors()))


def install_error_handlers(app: FastAPI) -> None:
    """Route jobdeck errors, HTTP errors and validation errors to JSON answers (400 rather than 422)."""
    app.add_exception_handler(JobdeckError, _jobdeck_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
