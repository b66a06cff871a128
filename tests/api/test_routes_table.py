"""The JSON routes as one table (issue 20): every endpoint served is the one documented, served as a plain Starlette
route (no FastAPI route registered beside it), and the document FastAPI's ``app.openapi()`` returns is whole. The
web layer does not load the command line, and the command line does not load the web framework."""

from __future__ import annotations

import subprocess
import sys

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from tests.api.conftest import PREFIX
from tests.api.test_openapi import refs


def served(app: FastAPI) -> set[tuple[str, str]]:
    return {(route.path, method) for route in app.router.routes if isinstance(route, Route)
            and route.path.startswith(PREFIX + "/") and route.path != f"{PREFIX}/openapi.json"
            for method in route.methods or () if method != "HEAD"}


def test_every_served_json_route_is_documented_and_every_documented_one_is_served(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    documented = {(path, method.upper()) for path, operations in paths.items() for method in operations}
    assert len(documented) >= 20
    assert served(app) == documented


def _fastapi_routes(app: FastAPI) -> list[str]:
    """Paths of FastAPI routes, those of included routers too (kept whole, not flattened, by recent FastAPI)."""
    found = []
    for route in app.router.routes:
        included = getattr(route, "original_router", None)
        for inner in [route] if included is None else included.routes:
            if isinstance(inner, APIRoute):
                found.append(getattr(included, "prefix", "") + inner.path if included is not None else inner.path)
    return found


def test_the_json_routes_are_plain_starlette_routes(app: FastAPI) -> None:
    # A FastAPI route for the same path would mean the endpoint is registered twice (once only to be documented).
    assert [path for path in _fastapi_routes(app) if path.startswith(PREFIX)] == [f"{PREFIX}/openapi.json"]
    assert "/healthz" in _fastapi_routes(app)  # the walk does see included routers' routes


def test_the_apps_own_document_resolves_every_reference(app: FastAPI) -> None:
    document = app.openapi()
    components = document["components"]["schemas"]
    found = refs(document)
    assert any(ref.endswith("/JsonValue") for ref in found)
    for ref in found:
        assert ref.rsplit("/", 1)[1] in components, ref


def _loaded(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def test_the_web_layer_does_not_load_the_command_line() -> None:
    assert _loaded("import sys, jobdeck.api; print(sorted(m for m in sys.modules if m.startswith('jobdeck.cli')))") \
        == "[]"


def test_the_command_line_does_not_load_the_web_framework() -> None:
    # Every command builds the whole parser; the API's default prefix is read from core.net, not from the api.
    assert _loaded("import sys, jobdeck.cli; jobdeck.cli.build_parser(); print('fastapi' in sys.modules)") == "False"
