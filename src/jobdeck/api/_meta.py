"""What the deck knows besides jobs: the registered types, who is signed in, the counts per status.

Routes are closures over one :class:`~jobdeck.api._deck.Deck`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.model import ACTIVE
from ..runtime.runner import JobRunner
from ..stores.base import Store
from . import _schemas as schemas
from ._deck import Deck
from ._locale import request_locale
from ._openapi import AUTH_ERRORS, Routes
from ._serialize import json_response

__all__ = ["build_meta_routes"]


def _types(runner: JobRunner | None, store: Store, lang: str) -> list[dict[str, Any]]:
    """The registered types, their titles, descriptions and parameter labels in ``lang``."""
    active: dict[str, list[str]] = {}
    for job in store.get_active_jobs(messages=False):
        active.setdefault(job.job_type, []).append(job.id)
    if runner is None:
        return []
    return [{
        "jobType": t.name,
        "external": t.external,
        "title": t.title_in(lang),
        "description": t.description_in(lang),
        "maxConcurrent": t.max_concurrent,
        "timeout": t.timeout,
        "stallAfter": t.stall_after,
        "params": dict(t.params),
        "paramsSchema": t.schema_in(lang),
        "activeJobIds": active.get(t.name, []),
    } for t in runner.types]


def _stats(store: Store) -> dict[str, Any]:
    counts: dict[str, Any] = dict(store.stats())
    counts["active"] = sum(counts.get(status.value, 0) for status in ACTIVE)
    counts["staleAfter"] = store.stale_after
    return counts


def build_meta_routes(deck: Deck) -> Routes:
    """Job types, the signed-in principal and the counts, bound to ``deck``."""
    routes = Routes()
    store = deck.store
    authenticate = deck.auth.authenticate
    identify = deck.auth.identify
    permissions = deck.permissions

    @routes.get("/types", responses={200: {"model": list[schemas.JobTypeInfo]}, **AUTH_ERRORS},
                summary="Registered job types, their parameters and active jobs")
    async def types(request: Request) -> Response:
        await authenticate(request)
        # Titles, descriptions and parameter labels in the viewer's language, where the host translated them.
        return json_response(await deck.call(_types, deck.runner, store, request_locale(request)))

    @routes.get("/me", responses={200: {"model": schemas.Me}, **AUTH_ERRORS},
                summary="Who is signed in, their role, and what the dashboard should offer them")
    async def me(request: Request) -> Response:
        principal = await identify(request)
        types = deck.runner.types if deck.runner is not None else []
        return json_response({
            "name": principal.name,
            "role": principal.role,
            "canStart": [t.name for t in types if permissions.may_start(principal, t.name)],
            "canAbort": principal.is_admin or permissions.custom_abort,
        })

    @routes.get("/stats", responses={200: {"model": schemas.Stats}, **AUTH_ERRORS}, summary="Jobs per status")
    async def stats(request: Request) -> Response:
        await authenticate(request)
        return json_response(await deck.call(_stats, store))

    return routes
