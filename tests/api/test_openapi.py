"""The OpenAPI document itself (issue 19, item 11): no reference that leads nowhere, the answers every operation
may give documented on each, the constraints the routes apply stated, and the message bound of the report API.
(``test_schemathesis.py`` holds the server to the document on every store.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jobdeck.core.model import MAX_MESSAGE_CHARS
from tests.api.conftest import AUTH, PREFIX

pytestmark = pytest.mark.anyio


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(f"{PREFIX}/openapi.json", headers=AUTH)
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


async def test_every_reference_resolves(client: httpx.AsyncClient) -> None:
    schema = await document(client)
    components = schema["components"]["schemas"]
    found = refs(schema)
    assert found  # the responses do use components
    for ref in found:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components, ref


async def test_every_operation_documents_the_throttle_and_an_unreachable_store(client: httpx.AsyncClient) -> None:
    schema = await document(client)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"429", "503"} <= set(operation["responses"]), f"{method} {path}"
            if method == "post":
                assert {"413", "415"} <= set(operation["responses"]), f"{method} {path}"


async def test_the_constraints_the_routes_apply_are_stated(client: httpx.AsyncClient) -> None:
    paths = (await document(client))["paths"]

    def parameter(path: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(p for p in paths[PREFIX + path]["get"]["parameters"] if p["name"] == name)
        return found

    lookup = parameter("/lookup", "id")
    assert lookup["required"] is True and lookup["schema"]["pattern"] == "^[0-9a-fA-F-]{6,36}$"
    assert parameter("/past", "before")["schema"]["pattern"].endswith("[0-9a-f]{12}$")
    assert parameter("/search", "before")["schema"] == parameter("/past", "before")["schema"]
    assert parameter("/search", "q")["schema"]["maxLength"] == 1000
    start = paths[f"{PREFIX}/start"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"required": ["jobType"], "properties": {"jobType": {"type": "string"}}} in start["anyOf"]


async def test_the_report_schema_states_the_message_bound(client: httpx.AsyncClient) -> None:
    paths = (await document(client))["paths"]
    body = paths[f"{PREFIX}/single/{{job_id}}/report"]["post"]["requestBody"]["content"]["application/json"]
    messages = body["schema"]["properties"]["messages"]["anyOf"][0]
    text = messages["items"]["properties"]["message"]
    assert f"longer than {MAX_MESSAGE_CHARS} characters is accepted and kept cut" in text["description"]
    assert "maxLength" not in text  # a longer message is accepted (and cut by the store), not refused
    assert "$ref" not in str(body)  # written in place: the ReportOperation reference used to dangle
