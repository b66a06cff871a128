"""Bad input is a 4xx JSON answer naming the problem; an unexpected failure is a bare 500; never a traceback."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import MemoryStore
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json", **AUTH}


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PREFIX}/start", content=b'{"jobType": "Quick",', headers=JSON)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]
    not_object = await client.post(f"{PREFIX}/start", content=b"[1, 2]", headers=JSON)
    assert not_object.status_code == 400 and "object" in not_object.json()["error"].lower()


async def test_oversized_body_is_413(make_client: object, store: MemoryStore) -> None:
    app = create_app(store=store, max_body=1000)
    async with make_client(app) as c:  # type: ignore[operator]
        big = b'{"reason": "' + b"x" * 2000 + b'"}'
        declared = await c.post(f"{PREFIX}/abort-all", content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and "1000 bytes" in declared.json()["error"]

        async def chunks():  # no Content-Length: the limit is enforced while reading
            for _ in range(4):
                yield b"x" * 400

        streamed = await c.post(f"{PREFIX}/abort-all", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "too large" in streamed.json()["error"]


async def test_default_body_cap_is_one_mebibyte(client: httpx.AsyncClient) -> None:
    body = b'{"reason": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(f"{PREFIX}/abort-all", content=body, headers=JSON)
    assert response.status_code == 413


async def test_non_json_body_on_api_write_is_415(client: httpx.AsyncClient) -> None:
    form = await client.post(f"{PREFIX}/abort-all", data={"reason": "x"}, headers=AUTH)
    assert form.status_code == 415 and "application/json" in form.json()["error"]
    plain = await client.post(f"{PREFIX}/start", content=b'{"jobType": "Quick"}',
                              headers={"Content-Type": "text/plain", **AUTH})
    assert plain.status_code == 415


async def test_unknown_endpoint_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"{PREFIX}/nothing", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"].startswith("no such endpoint")
    method = await client.delete(f"{PREFIX}/active", headers=AUTH)
    assert method.status_code == 405 and "DELETE" in method.json()["error"]


async def test_wrong_types_in_fields_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PREFIX}/start", json={"jobType": "Quick", "author": ["x"]}, headers=AUTH)
    assert response.status_code == 400 and "author" in response.json()["error"]
    limit = await client.get(f"{PREFIX}/single/00000000-0000-0000-0000-000000000000/messages?limit=-3",
                             headers=AUTH)
    assert limit.status_code == 400 and "limit" in limit.json()["error"]


async def test_unexpected_error_is_a_bare_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore(MemoryStore):
        def stats(self) -> dict[str, int]:
            raise RuntimeError("secret internal detail")

    app: FastAPI = create_app(store=BrokenStore())
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        with caplog.at_level(logging.ERROR, logger="jobdeck.api"):
            response = await c.get(f"{PREFIX}/stats")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error; the server log has the details"}
    assert "secret" not in response.text and "Traceback" not in response.text
    assert any("secret internal detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)
