"""The OpenAPI description the JSON routes share: their parameters, error answers and request bodies.

Each route module declares its parameters with :func:`param` next to the handler that reads them, and the answers
it may give with the tables here, so that every endpoint documents the throttle, an unreachable store and (writes)
the request guard alike.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from . import _schemas as schemas
from ._schemas import NO_NUL

__all__ = [
    "AUTH_ERRORS",
    "CURSOR",
    "ID_ERRORS",
    "JOB_ID",
    "JOB_TYPE",
    "LIMIT_SCHEMA",
    "MAX_LIMIT",
    "MESSAGES",
    "TEXT",
    "TIME",
    "WRITE_ERRORS",
    "docs",
    "error",
    "param",
]

MAX_LIMIT = 100_000


def error(description: str) -> dict[str, Any]:
    return {"model": schemas.ErrorBody, "description": description}


# Every endpoint may answer these: a refused request, the token throttle, the store or task engine out of reach.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error("malformed request: the message names the field"),
    401: error("no credentials"),
    403: error("wrong credentials, a cross-site request, or (writes) a role that may not do this: the body's "
                "requiredRole names the role needed"),
    429: error("too many wrong tokens from this address: Retry-After says when credentials are checked again"),
    503: error("the store (or the task engine) cannot be reached or did not answer in time; retry later"),
}
ID_ERRORS: dict[int | str, dict[str, Any]] = {**AUTH_ERRORS, 404: error("no such job (never created or evicted)")}
# Every write may also answer these (the request guard).
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    413: error("the request body is larger than the server takes"),
    415: error("the request body is not JSON in UTF-8"),
}



UUID_SCHEMA = {"type": "string", "format": "uuid"}


def param(name: str, description: str, schema: dict[str, Any] | None = None, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    """An OpenAPI parameter; a ``job_id`` is a UUID (the routes answer 400 for anything else)."""
    if schema is None:
        schema = UUID_SCHEMA if name == "job_id" else {"type": "string"}
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}


TEXT = {"type": "string", "pattern": NO_NUL}
# A past-jobs cursor as the API hands it out: the end time (a float's repr) and the job id; 80 characters at most.
CURSOR = {"type": "string", "pattern": "^-?[0-9]{1,17}(\\.[0-9]{1,17})?(e[-+]?[0-9]{1,2})?_[0-9a-f]{8}-[0-9a-f]{4}-"
                                       "[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
TIME = {"type": "string", "format": "date-time"}
JOB_TYPE = param("jobType", "only jobs of this type", TEXT)
MESSAGES = param("messages", "all (default: the reference shape), none, or last:N (or N) messages of each kind",
                   {"type": "string", "pattern": "^(all|none|(last:)?[0-9]{1,8})$"})
JOB_ID = param("job_id", "the job's id (a UUID)", where="path")
LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}


def docs(*params: dict[str, Any], body: type[BaseModel] | None = None, body_required: bool = False,
          ) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": list(params)}
    if body is not None:
        extra["requestBody"] = {"required": body_required, "content": {"application/json": {
            "schema": schemas.body_schema(body)}}}
    return extra

