"""The OpenAPI description the JSON routes share: their parameters, error answers and request bodies.

Each route module declares its parameters with :func:`param` next to the handler that reads them, and the answers
it may give with the tables here, so that every endpoint documents the throttle, an unreachable store and (writes)
the request guard alike.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import _schemas as schemas
from ._schemas import JSON_VALUE, NO_NUL

__all__ = [
    "AUTH_ERRORS",
    "CURSOR",
    "ID_ERRORS",
    "JOB_ID",
    "JOB_TYPE",
    "MAX_LIMIT",
    "MESSAGES",
    "TEXT",
    "TIME",
    "WRITE_ERRORS",
    "Endpoint",
    "Routes",
    "document",
    "error",
    "param",
    "starlette_routes",
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


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One row of the table: a route and everything its OpenAPI description says (its one declaration)."""

    method: str
    path: str  # under the prefix
    handler: Handler
    summary: str
    responses: dict[int | str, dict[str, Any]]
    params: tuple[dict[str, Any], ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = False
    tag: str = "jobs"


class Routes:
    """The endpoints of one concern, declared with a decorator::

        routes = Routes()

        @routes.get("/stats", responses={200: {"model": schemas.Stats}, **AUTH_ERRORS}, summary="Jobs per status")
        async def stats(request: Request) -> Response: ...

    Handlers take the bare request and are served as plain Starlette routes (:meth:`starlette_routes`): FastAPI's
    per-request dependency resolution would cost more than serving a cached job list does (``python -m
    benchmarks.api_overhead``). Their OpenAPI description is generated from the same rows (:func:`document`).
    """

    def __init__(self, tag: str = "jobs") -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def add(self, method: str, path: str, handler: Handler, *, summary: str,
            responses: dict[int | str, dict[str, Any]], params: tuple[dict[str, Any], ...] = (),
            body: type[BaseModel] | None = None, body_required: bool = False) -> None:
        self.endpoints.append(Endpoint(method, path, handler, summary, responses, params, body, body_required,
                                       self.tag))

    def get(self, path: str, *, summary: str, responses: dict[int | str, dict[str, Any]],
            params: tuple[dict[str, Any], ...] = ()) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add("GET", path, handler, summary=summary, responses=responses, params=params)
            return handler

        return register

    def post(self, path: str, *, summary: str, responses: dict[int | str, dict[str, Any]],
             params: tuple[dict[str, Any], ...] = (), body: type[BaseModel] | None = None,
             body_required: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add("POST", path, handler, summary=summary, responses=responses, params=params, body=body,
                     body_required=body_required)
            return handler

        return register


def starlette_routes(prefix: str, endpoints: Iterable[Endpoint]) -> list[Route]:
    """The table as routes under ``prefix``: one route per path, so that a method the path does not take is a 405
    whose ``Allow`` lists every method it does (``/schedules/{id}``: GET, PATCH, DELETE)."""
    by_path: dict[str, dict[str, Handler]] = {}
    for e in endpoints:
        by_path.setdefault(e.path, {})[e.method] = e.handler
    routes = []
    for path, handlers in by_path.items():
        if len(handlers) == 1:
            ((method, handler),) = handlers.items()
            routes.append(Route(prefix + path, handler, methods=[method], name=handler.__name__))
        else:
            routes.append(Route(prefix + path, _by_method(handlers), methods=list(handlers),
                                name=next(iter(handlers.values())).__name__))
    return routes


def _by_method(handlers: dict[str, Handler]) -> Handler:
    async def dispatch(request: Request) -> Response:
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return dispatch


def _operation_id(prefix: str, endpoint: Endpoint) -> str:
    # The form FastAPI gives its own routes, so that a generated client keeps its method names.
    return re.sub(r"\W", "_", f"{endpoint.handler.__name__}{prefix}{endpoint.path}") + "_" + endpoint.method.lower()


def document(prefix: str, endpoints: Iterable[Endpoint], info: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints`` under ``prefix``: parameters and bodies as declared, answers from
    their models (whose schemas become the document's components, with ``JsonValue`` they refer to)."""
    rows = list(endpoints)
    models: list[tuple[tuple[int, str], Any]] = []
    for n, endpoint in enumerate(rows):
        for code, answer in endpoint.responses.items():
            if "model" in answer:
                models.append(((n, str(code)), answer["model"]))
    adapters = {key: TypeAdapter(model) for key, model in models}
    schemas_of, definitions = TypeAdapter.json_schemas(
        [(key, "serialization", adapter) for key, adapter in adapters.items()],
        ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for n, endpoint in enumerate(rows):
        responses: dict[str, Any] = {}
        for code, answer in endpoint.responses.items():
            out: dict[str, Any] = {"description": answer.get("description", "Successful Response")}
            if "headers" in answer:
                out["headers"] = answer["headers"]
            if "model" in answer:
                out["content"] = {"application/json": {"schema": schemas_of[((n, str(code)), "serialization")]}}
            if "content" in answer:  # beside the model's JSON (another format of the same answer), or alone
                out["content"] = {**out.get("content", {}), **answer["content"]}
            responses[str(code)] = out
        operation: dict[str, Any] = {"tags": [endpoint.tag], "summary": endpoint.summary,
                                     "operationId": _operation_id(prefix, endpoint), "responses": responses,
                                     "parameters": list(endpoint.params)}
        if endpoint.body is not None:
            operation["requestBody"] = {"required": endpoint.body_required, "content": {"application/json": {
                "schema": schemas.body_schema(endpoint.body)}}}
        paths.setdefault(prefix + endpoint.path, {})[endpoint.method.lower()] = operation
    components = {**definitions.get("$defs", {}), "JsonValue": JSON_VALUE}
    return {"openapi": "3.1.0", "info": info, "paths": paths, "components": {"schemas": components}}
