"""Reading a request: its JSON body into a model, and the query values the JSON routes share.

A value the request gets wrong is a 400 that names it (:class:`~jobdeck.api._errors.ApiError`); what each
parameter means is stated once, in the route's OpenAPI declaration (:mod:`jobdeck.api._openapi`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel

from ..core.model import JobInfo, PastCursor
from ._errors import ApiError
from ._openapi import param
from ._serialize import refuse_nul

__all__ = ["IntParam", "int_param", "job_types", "keep_types", "parse_cursor", "query_list", "read_body"]

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, model: type[M], required: bool) -> M:
    """Validate a JSON body; 400 naming the problem (malformed JSON, wrong type, unknown field)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        raw = b"{}"
    return model.model_validate_json(raw)  # a ValidationError becomes a 400 (see errors.py)


def query_list(request: Request, name: str) -> list[str]:
    """Every value of a list parameter, repeated (``statuses=a&statuses=b``) or in the indexed form that
    JavaScript query-string libraries write (``statuses[0]=a&statuses[1]=b``, also ``statuses[]=a``)."""
    query = request.query_params
    values = query.getlist(name)
    indexed: list[tuple[int, int, str]] = []
    head = name + "["
    for order, (key, value) in enumerate(query.multi_items()):
        if key.startswith(head) and key.endswith("]"):
            inner = key[len(head):-1]
            if inner and not inner.isdigit():
                raise ApiError(400, f"{key!r}: a list parameter takes {name}=..., {name}[]=... or {name}[N]=...")
            indexed.append((int(inner) if inner else order, order, value))
    indexed.sort()
    return values + [value for _, _, value in indexed]


def job_types(request: Request) -> tuple[str | None, frozenset[str] | None]:
    """The store's one-type filter, and the set to filter by afterwards when several types are asked for."""
    names = [n for n in query_list(request, "jobType") if refuse_nul("jobType", n)]
    if not names:
        return None, None
    if len(set(names)) == 1:
        return names[0], None
    return None, frozenset(names)


def keep_types(jobs: list[JobInfo], wanted: frozenset[str] | None) -> list[JobInfo]:
    return jobs if wanted is None else [job for job in jobs if job.job_type in wanted]



def int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def parse_cursor(value: str | None) -> PastCursor | None:
    """A ``before`` value handed out before (a page's ``next`` or ``X-Jobdeck-Next``) -> the cursor; 400 for
    anything else."""
    if value is None:
        return None
    try:
        return PastCursor.parse(value)
    except ValueError as exc:
        raise ApiError(400, f"before: {exc}") from None


@dataclass(frozen=True, slots=True)
class IntParam:
    """A whole-number query value from ``low`` to ``high``, declared once: :meth:`read` takes it from a request
    (400 naming it otherwise), :attr:`spec` describes it to the OpenAPI document with the same bounds."""

    name: str
    description: str
    low: int
    high: int
    default: int | None = None

    @property
    def spec(self) -> dict[str, Any]:
        return param(self.name, self.description, {"type": "integer", "minimum": self.low, "maximum": self.high})

    def read(self, request: Request) -> int | None:
        return int_param(request, self.name, self.default, self.low, self.high)
