"""Behind a reverse proxy: a real server believes forwarded host and scheme from trusted proxies only, and
accepts writes from the origins it is told to trust. The test process plays the proxy (it connects from
127.0.0.1) and the browser (it sends Origin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.refclient.conftest import TOKEN, RefServer, ref_server

PUBLIC = "https://jobs.example.com"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RefServer]:
    """Trusts the loopback proxy (the default) and one extra origin."""
    with ref_server(tmp_path_factory.mktemp("proxied"), "--trusted-origin", "https://admin.example.org:8443"
                    ) as server:
        yield server


def start(server: RefServer, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/admin/jobs/start", json={"jobType": "Quick"},
                      headers={**server.auth, **headers}, timeout=10)


@pytest.mark.slow
def test_forwarded_host_and_scheme_from_a_trusted_proxy_pass_the_cross_site_check(proxied: RefServer) -> None:
    assert start(proxied, Origin=PUBLIC).status_code == 403  # what the browser sends, without the proxy's headers
    nginx = start(proxied, Origin=PUBLIC, **{"X-Forwarded-Host": "jobs.example.com", "X-Forwarded-Proto": "https"})
    assert nginx.status_code == 201, nginx.text
    rfc = start(proxied, Origin=PUBLIC, Forwarded='for=192.0.2.1;host="jobs.example.com";proto=https')
    assert rfc.status_code == 201, rfc.text
    # The proxy does not make another site this one.
    evil = start(proxied, Origin="https://evil.example", **{"X-Forwarded-Host": "jobs.example.com",
                                                             "X-Forwarded-Proto": "https"})
    assert evil.status_code == 403 and "--trusted-origin" in evil.json()["error"]
    wrong_scheme = start(proxied, Origin="http://jobs.example.com", **{"X-Forwarded-Host": "jobs.example.com",
                                                                        "X-Forwarded-Proto": "https"})
    assert wrong_scheme.status_code == 403


def test_a_trusted_origin_may_write(proxied: RefServer) -> None:
    assert start(proxied, Origin="https://admin.example.org:8443").status_code == 201
    assert start(proxied, Origin="https://admin.example.org").status_code == 403  # another port, another origin


def test_the_forwarded_scheme_reaches_the_app(proxied: RefServer) -> None:
    """The login cookie is Secure when the browser spoke HTTPS to the proxy."""
    login = httpx.post(f"{proxied.url}/login", data={"token": TOKEN}, follow_redirects=False,
                       headers={"Origin": PUBLIC, "X-Forwarded-Host": "jobs.example.com",
                                "X-Forwarded-Proto": "https"})
    assert login.status_code == 303, login.text
    assert "secure" in login.headers["set-cookie"].lower()
    plain = httpx.post(f"{proxied.url}/login", data={"token": TOKEN}, follow_redirects=False)
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_forwarded_headers_from_an_untrusted_address_are_ignored(tmp_path: Path) -> None:
    with ref_server(tmp_path, "--forwarded-allow-ips", "192.0.2.7") as server:
        headers = {"X-Forwarded-Host": "jobs.example.com", "X-Forwarded-Proto": "https"}
        assert start(server, Origin=PUBLIC, **headers).status_code == 403
        login = httpx.post(f"{server.url}/login", data={"token": TOKEN}, follow_redirects=False,
                           headers={"X-Forwarded-Proto": "https"})
        assert "secure" not in login.headers["set-cookie"].lower()
        assert start(server, Origin=server.url).status_code == 201  # its own origin, as ever


def test_a_bad_proxy_setting_is_one_line(tmp_path: Path) -> None:
    server = ref_server(tmp_path, "--trusted-origin", "ftp://x")
    server.launch()
    assert server.proc is not None
    assert server.proc.wait(timeout=30) == 2
    output = server.output().strip()
    assert output.count("\n") == 0 and "trusted origin 'ftp://x'" in output
