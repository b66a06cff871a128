"""Authentication: bearer token, cookie login and logout, the host's auth callable, cross-site writes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from jobdeck import JobRunner, MemoryStore
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN

pytestmark = pytest.mark.anyio

PROTECTED = [("GET", "/active"), ("GET", "/past"), ("GET", "/types"), ("GET", "/stats"), ("GET", "/events"),
             ("GET", "/single/00000000-0000-0000-0000-000000000000/progress"), ("POST", "/abort-all"),
             ("POST", "/start")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_api_needs_the_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    missing = await client.request(method, PREFIX + path)
    assert missing.status_code == 401 and "error" in missing.json()
    wrong = await client.request(method, PREFIX + path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json() == {"error": "wrong token"}
    wrong_cookie = await client.request(method, PREFIX + path, headers={"Cookie": "jobdeck_token=nope"})
    assert wrong_cookie.status_code == 403


async def test_bearer_and_cookie_both_work(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{PREFIX}/stats", headers=AUTH)).status_code == 200
    assert (await client.get(f"{PREFIX}/stats", headers={"Cookie": f"jobdeck_token={TOKEN}"})).status_code == 200


async def test_healthz_is_open(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_dashboard_login_flow(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 401 and "token" in page.text.lower() and "<form" in page.text
    # the token in the URL becomes a cookie, and the redirect takes it out of the address bar
    login = await client.get("/", params={"token": TOKEN})
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert f"jobdeck_token={TOKEN}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert login.headers["referrer-policy"] == "no-referrer"
    client.cookies.set("jobdeck_token", TOKEN)
    dashboard = await client.get("/")
    assert dashboard.status_code == 200 and 'name="jobdeck-api-prefix" content="/api/admin/jobs"' in dashboard.text
    static = await client.get("/static/app.js")
    assert static.status_code == 200 and len(static.content) > 100
    logout = await client.post("/logout")
    assert logout.status_code == 303 and 'jobdeck_token=""' in logout.headers["set-cookie"]
    assert "Max-Age=0" in logout.headers["set-cookie"]


async def test_wrong_token_in_url_sets_no_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/", params={"token": "nope"})
    assert response.status_code == 303 and response.headers["location"] == "/?error=1"
    assert "set-cookie" not in response.headers


async def test_login_form(client: httpx.AsyncClient) -> None:
    good = await client.post("/login", data={"token": TOKEN})
    assert good.status_code == 303 and good.headers["location"] == "/"
    assert f"jobdeck_token={TOKEN}" in good.headers["set-cookie"]
    bad = await client.post("/login", data={"token": "nope"})
    assert bad.status_code == 303 and bad.headers["location"] == "/?error=1" and "set-cookie" not in bad.headers
    empty = await client.post("/login")
    assert empty.status_code == 303 and "set-cookie" not in empty.headers
    as_json = await client.post("/login", json={"token": TOKEN})
    assert as_json.status_code == 303 and "set-cookie" in as_json.headers
    link = await client.get("/login")
    assert link.status_code == 303 and link.headers["location"] == "/"


async def test_static_files_need_authentication(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/app.js")).status_code == 401
    assert (await client.get("/static/app.js", headers=AUTH)).status_code == 200
    assert (await client.get("/static/../app.py", headers=AUTH)).status_code == 404


async def test_cross_site_writes_are_refused(client: httpx.AsyncClient) -> None:
    evil = await client.post(f"{PREFIX}/abort-all", json={}, headers={"Origin": "https://evil.example", **AUTH})
    assert evil.status_code == 403 and "cross-site" in evil.json()["error"]
    null = await client.post(f"{PREFIX}/abort-all", json={}, headers={"Origin": "null", **AUTH})
    assert null.status_code == 403
    fetch_meta = await client.post(f"{PREFIX}/abort-all", json={}, headers={"Sec-Fetch-Site": "cross-site", **AUTH})
    assert fetch_meta.status_code == 403
    other_port = await client.post(f"{PREFIX}/abort-all", json={},
                                   headers={"Origin": "http://testserver:8080", **AUTH})
    assert other_port.status_code == 403
    same = await client.post(f"{PREFIX}/abort-all", json={}, headers={"Origin": "http://testserver", **AUTH})
    assert same.status_code == 202
    # a cross-site login would plant the attacker's session: refused too
    login = await client.post("/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"})
    assert login.status_code == 403


async def test_no_auth_means_anonymous(make_client: object, runner: JobRunner) -> None:
    app = create_app(runner=runner)
    async with make_client(app) as c:  # type: ignore[operator]
        assert (await c.get("/")).status_code == 200
        started = await c.post(f"{PREFIX}/start", json={"jobType": "Quick"})
        assert started.status_code == 201 and started.json()["author"] == "anonymous"


async def test_auth_callable_supplies_the_principal(make_client: object, runner: JobRunner) -> None:
    async def host_auth(request: Request) -> dict[str, str] | None:
        user = request.headers.get("x-user")
        return {"email": user} if user else None

    app: FastAPI = create_app(runner=runner, auth=host_auth)
    async with make_client(app) as c:  # type: ignore[operator]
        assert (await c.get(f"{PREFIX}/stats")).status_code == 401
        started = await c.post(f"{PREFIX}/start", json={"jobType": "Quick"}, headers={"X-User": "ann@example.com"})
        assert started.status_code == 201 and started.json()["author"] == "ann@example.com"


async def test_auth_callable_and_token_together(make_client: object, store: MemoryStore) -> None:
    app = create_app(store=store, auth=lambda request: "sso-user" if request.headers.get("x-sso") else None,
                     token=TOKEN)
    async with make_client(app) as c:  # type: ignore[operator]
        assert (await c.get(f"{PREFIX}/stats", headers={"X-SSO": "1"})).status_code == 200
        assert (await c.get(f"{PREFIX}/stats", headers=AUTH)).status_code == 200
        assert (await c.get(f"{PREFIX}/stats")).status_code == 401


async def test_mounted_under_a_parent_app(store: MemoryStore) -> None:
    parent = FastAPI()
    parent.mount("/jobs", create_app(store=store, token=TOKEN))
    store.create_job("Manual", "me")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(parent), base_url="http://testserver") as c:
        listed = await c.get(f"/jobs{PREFIX}/active", headers=AUTH)
        assert listed.status_code == 200 and len(listed.json()) == 1
        page = await c.get("/jobs/", headers=AUTH)
        assert page.status_code == 200 and f'content="/jobs{PREFIX}"' in page.text
        login = await c.get("/jobs/", params={"token": TOKEN})
        assert login.status_code == 303 and login.headers["location"] == "/jobs/"
        assert (await c.post(f"/jobs{PREFIX}/abort-all", content=b"a=b", headers={
            "Content-Type": "application/x-www-form-urlencoded", **AUTH})).status_code == 415
