"""The wrong-token throttle (issue 19, item 5): it counts what a guesser cannot change for free, lets the right
token through while wrong ones are slowed, without answering guesses any faster, and a report token used on the
wrong endpoint is not counted as a guess."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import JobRunner, MemoryStore
from jobdeck.api import create_app
from jobdeck.api._auth import Authenticator
from jobdeck.api._throttle import PEER_SCOPE_KEY, Throttle, client_keys
from jobdeck.core.errors import InvalidArgumentError
from tests.api.conftest import AUTH, PREFIX, TOKEN, live_server
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.anyio

WRONG = {"Authorization": "Bearer guess"}


class Clock:
    """The throttle's clock, moved by the test: windows pass when the test says so, however loaded the machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    with MemoryStore() as store:
        r = JobRunner(store)
        r.register_external("Remote", max_concurrent=5)
        yield r
        r.shutdown(grace=2)


def small_throttle(app: FastAPI, clock: Clock) -> Throttle:
    throttle = Throttle(free=5, limit=20, proxy_limit=30, global_limit=60, window=600, clock=clock)
    app.state.deck.auth.throttle = throttle
    return throttle


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # httpx's ASGI transport connects "from" 127.0.0.1.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def direct_app(runner: JobRunner) -> FastAPI:
    return create_app(runner=runner, token=TOKEN)  # trusts no proxy


@pytest.fixture
def proxied_app(runner: JobRunner) -> FastAPI:
    return create_app(runner=runner, token=TOKEN, forwarded_allow_ips="127.0.0.1")  # `jobdeck serve`'s default


@pytest.fixture
async def direct(direct_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(direct_app):
        yield c


@pytest.fixture
async def proxied(proxied_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(proxied_app):
        yield c


def forwarded(n: int, token: str = "guess") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Forwarded-For": f"198.51.100.{n}"}


# ---------------------------------------------------------------------- the reproductions, over HTTP only


async def test_the_right_token_gets_in_after_wrong_ones_from_its_address(direct: httpx.AsyncClient) -> None:
    for _ in range(6):
        await direct.get(f"{PREFIX}/active", headers=WRONG)
    assert (await direct.get(f"{PREFIX}/active", headers=WRONG)).status_code == 429
    assert (await direct.get(f"{PREFIX}/active", headers=AUTH)).status_code == 200


async def test_report_tokens_on_other_endpoints_do_not_lead_to_a_lockout(direct: httpx.AsyncClient) -> None:
    started = await direct.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)
    report = {"Authorization": f"Bearer {started.json()['reportToken']}"}
    for _ in range(10):
        assert (await direct.get(f"{PREFIX}/active", headers=report)).status_code == 403
    assert (await direct.get(f"{PREFIX}/active", headers=WRONG)).status_code == 403


async def test_rotating_x_forwarded_for_from_loopback_is_slowed(proxied: httpx.AsyncClient) -> None:
    answers = [(await proxied.get(f"{PREFIX}/active", headers=forwarded(n))).status_code for n in range(20)]
    assert answers == [403] * 5 + [429] * 15


# ------------------------------------------------------------------------------------------- what is counted


async def test_rotating_x_forwarded_for_from_an_untrusted_peer_changes_nothing(direct_app: FastAPI,
                                                                            direct: httpx.AsyncClient,
                                                                            clock: Clock) -> None:
    throttle = small_throttle(direct_app, clock)
    answers = [(await direct.get(f"{PREFIX}/active", headers=forwarded(n))).status_code for n in range(20)]
    assert answers == [403] * 5 + [429] * 15
    assert throttle.failures("127.0.0.1") == 20  # the peer, whatever the header said
    refused = await direct.get(f"{PREFIX}/active", headers=forwarded(99, TOKEN))
    assert refused.status_code == 429  # the budget is spent: not even the right token is checked now


async def test_rotating_x_forwarded_for_through_a_trusted_proxy_is_bounded_by_the_proxy(
        proxied_app: FastAPI, proxied: httpx.AsyncClient, clock: Clock) -> None:
    throttle = small_throttle(proxied_app, clock)
    # An administrator behind the proxy signs in before the attack.
    assert (await proxied.get(f"{PREFIX}/active", headers=forwarded(200, TOKEN))).status_code == 200
    # Each guess claims a new address: each client has one failure, but the proxy counts them all, so
    # guesses are slowed after the free ones (the red team saw 20 of 20 answered 403) ...
    answers = [(await proxied.get(f"{PREFIX}/active", headers=forwarded(n))).status_code for n in range(30)]
    assert answers == [403] * 5 + [429] * 25
    assert throttle.failures("proxy 127.0.0.1") == 30
    assert throttle.failures("198.51.100.7 via 127.0.0.1") == 1
    # ... and once the proxy's budget is spent, a client new to this window is not checked at all,
    for n in (31, 32):
        refused = await proxied.get(f"{PREFIX}/active", headers=forwarded(n, TOKEN if n == 32 else "guess"))
        assert refused.status_code == 429 and "this proxy" in refused.json()["error"]
    assert throttle.failures("proxy 127.0.0.1") == 30  # nothing more was checked
    # while the administrator, who showed the right token within the window, still gets in.
    assert (await proxied.get(f"{PREFIX}/active", headers=forwarded(200, TOKEN))).status_code == 200
    clock.now += 600
    assert (await proxied.get(f"{PREFIX}/active", headers=forwarded(33, TOKEN))).status_code == 200


async def test_a_bound_on_all_clients_together_is_the_backstop(clock: Clock) -> None:
    throttle = Throttle(free=5, limit=20, proxy_limit=1000, global_limit=10, window=600, clock=clock)
    throttle.succeeded("192.0.2.1")
    for n in range(10):
        assert throttle.refusal(f"203.0.113.{n}") is None
        throttle.failed(f"203.0.113.{n}")
    verdict = throttle.refusal("203.0.113.200")
    assert verdict is not None and verdict.who == "all addresses" and verdict.retry_after == 600
    assert throttle.refusal("192.0.2.1") is None  # it presented the right token within the window
    clock.now += 600.5
    assert throttle.refusal("203.0.113.200") is None


def test_an_ipv6_client_counts_by_its_network_and_the_proxy_beside_it() -> None:
    def keys(client: str, peer: str | None = None) -> tuple[str, str | None]:
        scope = {"client": (client, 1), PEER_SCOPE_KEY: (peer or client, 1)}
        return client_keys(scope)

    assert keys("2001:db8::1") == keys("2001:db8::ffff:2") == ("2001:db8::/64", None)
    assert keys("2001:db8:0:1::1") != keys("2001:db8::1")
    assert keys("::ffff:192.0.2.7") == ("192.0.2.7", None)
    assert keys("192.0.2.7", peer="10.0.0.2") == ("192.0.2.7 via 10.0.0.2", "proxy 10.0.0.2")
    assert client_keys({"client": None}) == ("-", None)


def test_memory_is_bounded(clock: Clock) -> None:
    throttle = Throttle(size=100, clock=clock)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}", "proxy 10.9.9.9")
    assert len(throttle._records) == 100
    assert len(throttle._all) == throttle.global_limit


# ------------------------------------------------------------------------------------ the right token passes


async def test_the_right_token_is_let_through_while_wrong_ones_get_429(direct_app: FastAPI,
                                                                      direct: httpx.AsyncClient,
                                                                      clock: Clock) -> None:
    throttle = small_throttle(direct_app, clock)
    for _ in range(6):
        await direct.get(f"{PREFIX}/active", headers=WRONG)
    guess = await direct.get(f"{PREFIX}/active", headers=WRONG)
    assert guess.status_code == 429 and int(guess.headers["retry-after"]) > 0
    assert (await direct.get(f"{PREFIX}/active", headers=AUTH)).status_code == 200  # was 429 (issue 19, item 5)
    assert (await direct.post("/login", data={"token": TOKEN})).status_code == 303  # the login form too
    # A right token does not wipe the failures: a guesser sharing the administrator's address would otherwise
    # get a fresh budget each time the dashboard polled.
    assert (await direct.get(f"{PREFIX}/active", headers=WRONG)).status_code == 429
    assert throttle.failures("127.0.0.1") == 8
    # Guesses stay bounded: after `limit` wrong tokens in the window, nothing is checked, right or wrong.
    while throttle.failures("127.0.0.1") < throttle.limit:
        assert (await direct.get(f"{PREFIX}/active", headers=WRONG)).status_code == 429
    for headers in (WRONG, AUTH):
        refused = await direct.get(f"{PREFIX}/active", headers=headers)
        assert refused.status_code == 429 and "no credential from it is checked" in refused.json()["error"]
    assert throttle.failures("127.0.0.1") == throttle.limit
    clock.now += 600
    assert (await direct.get(f"{PREFIX}/active", headers=AUTH)).status_code == 200


async def test_another_address_is_not_touched_by_a_lockout(direct_app: FastAPI, clock: Clock) -> None:
    throttle = small_throttle(direct_app, clock)
    for _ in range(throttle.limit):
        throttle.failed("203.0.113.9")
    async for c in client_for(direct_app):
        assert (await c.get(f"{PREFIX}/active", headers=AUTH)).status_code == 200
        assert (await c.get(f"{PREFIX}/active", headers=WRONG)).status_code == 403


# ------------------------------------------------------------------------------- a report token is no guess


async def test_a_report_token_on_the_wrong_endpoint_is_not_counted(direct_app: FastAPI, direct: httpx.AsyncClient,
                                                                   clock: Clock) -> None:
    throttle = small_throttle(direct_app, clock)
    started = await direct.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)
    other = await direct.post(f"{PREFIX}/start", json={"jobType": "Remote"}, headers=AUTH)
    report = {"Authorization": f"Bearer {started.json()['reportToken']}"}
    for _ in range(30):
        answer = await direct.get(f"{PREFIX}/active", headers=report)
        assert answer.status_code == 403 and "report token is accepted only by" in answer.json()["error"]
        foreign = await direct.post(f"{PREFIX}/single/{other.json()['id']}/report", headers=report)
        assert foreign.status_code == 403
    assert (await direct.post("/login", data={"token": started.json()["reportToken"]})).status_code == 303
    assert throttle.failures("127.0.0.1") == 0
    assert (await direct.get(f"{PREFIX}/active", headers=WRONG)).status_code == 403  # the first real guess


def test_an_admin_token_cannot_look_like_a_report_token() -> None:
    with pytest.raises(InvalidArgumentError, match="must not begin with 'jdr1_'"):
        Authenticator(token="jdr1_my-admin-token")
    with pytest.raises(InvalidArgumentError, match="must not begin with 'jdr1_'"):
        Authenticator(token="admin-token", viewer_tokens=["jdr1_viewer"])


# ---------------------------------------------------------------------------------------- on a real server


@pytest.mark.slow
def test_jobdeck_serve_bounds_a_rotating_x_forwarded_for_from_loopback(tmp_path: Path) -> None:
    # The red team's reproduction: loopback is a trusted proxy by default, and 20 of 20 wrong tokens, each with
    # a new X-Forwarded-For, were answered 403; the administrator's right token then got 429.
    with ServeProcess(tmp_path, ["--store", "memory://"], token=TOKEN) as server, \
            httpx.Client(base_url=server.url, timeout=10) as http:
        answers = [http.get(f"{PREFIX}/active", headers=forwarded(n)).status_code for n in range(20)]
        assert answers == [403] * 5 + [429] * 15
        assert http.get(f"{PREFIX}/active", headers=AUTH).status_code == 200
        assert http.get(f"{PREFIX}/active", headers=forwarded(77, TOKEN)).status_code == 200
        assert http.get(f"{PREFIX}/active", headers=WRONG).status_code == 403  # loopback itself: its first


def test_an_embedding_server_must_leave_proxy_headers_to_the_app(direct_app: FastAPI, clock: Clock) -> None:
    # With the server's own proxy-header handling off (as `jobdeck serve` runs uvicorn), the app sees the
    # connection's address and the header changes nothing.
    throttle = small_throttle(direct_app, clock)
    with live_server(direct_app, proxy_headers=False) as url, httpx.Client(base_url=url, timeout=10) as http:
        answers = [http.get(f"{PREFIX}/active", headers=forwarded(n)).status_code for n in range(8)]
        assert answers == [403] * 5 + [429] * 3
        assert http.get(f"{PREFIX}/active", headers=forwarded(9, TOKEN)).status_code == 200
    assert throttle.failures("127.0.0.1") == 8
