"""Named credentials: ``NAME=SECRET`` tokens (arguments, environment, a tokens file) and the host's auth callable
make every start, re-run, resume, abort and abort-all record who did it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import JobRunner
from jobdeck.api import create_app
from jobdeck.cli.settings import Settings
from jobdeck.core.credentials import parse_tokens_file, split_named
from jobdeck.core.errors import InvalidArgumentError
from tests.api.conftest import PREFIX
from tests.conftest import wait_for

pytestmark = pytest.mark.anyio

ALICE, BOB, VERA = "alice-secret-0001", "bob-secret-0002", "vera-secret-0003"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def named_app(runner: JobRunner) -> FastAPI:
    return create_app(runner=runner, token={"alice": ALICE, "bob": BOB}, viewer_tokens={"vera": VERA})


async def test_each_action_records_the_named_holder(named_app: FastAPI, runner: JobRunner) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(named_app), base_url="http://t") as c:
        me = (await c.get(f"{PREFIX}/me", headers=bearer(BOB))).json()
        assert me["name"] == "bob" and me["role"] == "admin"
        viewer = (await c.get(f"{PREFIX}/me", headers=bearer(VERA))).json()
        assert viewer["name"] == "vera" and viewer["role"] == "viewer"

        started = (await c.post(f"{PREFIX}/start", json={"jobType": "Quick"}, headers=bearer(BOB))).json()
        assert started["author"] == "bob"
        wait_for(lambda: runner.store.require_job(started["id"]).status.is_terminal, what="Quick to end")
        rerun = await c.post(f"{PREFIX}/single/{started['id']}/rerun", json={}, headers=bearer(ALICE))
        assert rerun.status_code == 201, rerun.text
        assert rerun.json()["author"] == "alice" and rerun.json()["rerunOf"] == started["id"]

        waiting = (await c.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=bearer(ALICE))).json()
        aborted = await c.post(f"{PREFIX}/single/{waiting['id']}/abort", json={"reason": "r"}, headers=bearer(BOB))
        assert aborted.status_code in (200, 202), aborted.text
        wait_for(lambda: runner.store.require_job(waiting["id"]).status.is_terminal, what="Waits to stop")
        assert runner.store.require_job(waiting["id"]).aborted_by == "bob"

        other = (await c.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers=bearer(BOB))).json()
        assert (await c.post(f"{PREFIX}/abort-all", json={}, headers=bearer(ALICE))).status_code in (200, 202)
        wait_for(lambda: runner.store.require_job(other["id"]).status.is_terminal, what="abort-all to land")
        assert runner.store.require_job(other["id"]).aborted_by == "alice"

        # The viewer reads but may not act, and is told so by name.
        refused = await c.post(f"{PREFIX}/start", json={"jobType": "Quick"}, headers=bearer(VERA))
        assert refused.status_code == 403 and "vera" in refused.json()["error"]


async def test_the_host_applications_auth_hook_names_the_author(runner: JobRunner) -> None:
    app = create_app(runner=runner, auth=lambda request: {"email": request.headers.get("x-user"), "role": "admin"}
                     if request.headers.get("x-user") else None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        started = await c.post(f"{PREFIX}/start", json={"jobType": "Waits"}, headers={"x-user": "ann@example.org"})
        job_id = started.json()["id"]
        assert started.json()["author"] == "ann@example.org"
        await c.post(f"{PREFIX}/single/{job_id}/abort", json={}, headers={"x-user": "ben@example.org"})
        wait_for(lambda: runner.store.require_job(job_id).status.is_terminal, what="Waits to stop")
        assert runner.store.require_job(job_id).aborted_by == "ben@example.org"


def test_named_tokens_are_told_apart_from_plain_ones() -> None:
    assert split_named("alice=s3cret") == ("alice", "s3cret")
    assert split_named("dGVzdA==") == (None, "dGVzdA==")      # base64 padding, not a name
    assert split_named("plain-token") == (None, "plain-token")
    assert split_named("1x=abc") == (None, "1x=abc")           # a name starts with a letter


def test_tokens_file_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# who may do what\nalice=a-secret-1\n\ncarol=c-secret-3 viewer\n")
    settings = Settings.from_env({"JOBDECK_TOKENS_FILE": str(path), "JOBDECK_TOKENS": "bob=b-secret-2"},
                                 token="shared-secret", viewer_tokens=("dora=d-secret-4", "plain-viewer"))
    admins, viewers = settings.credentials()
    assert admins == {"alice": "a-secret-1", "admin": "shared-secret", "bob": "b-secret-2"}
    assert viewers == {"carol": "c-secret-3", "dora": "d-secret-4", "viewer-2": "plain-viewer"}


@pytest.mark.parametrize(("text", "message"), [
    ("alice", "line 1: expected NAME=SECRET"),
    ("alice=x admin extra", "line 1: expected NAME=SECRET"),
    ("a=1\na=2", "line 2: the name 'a' is given twice"),
    ("bob=x owner", "line 1: expected NAME=SECRET"),
])
def test_a_bad_tokens_file_names_the_line_and_never_the_secret(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as caught:
        parse_tokens_file(text)
    assert "x owner" not in str(caught.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"token": {"alice": "same-secret", "bob": "same-secret"}}, "differ"),
    ({"token": {"not a name": "s"}}, "a token's name must be"),
    ({"token": {"alice": "s1"}, "viewer_tokens": {"alice": "s2"}}, "a name of its own"),
])
def test_create_app_refuses_unclear_credentials(runner: JobRunner, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        create_app(runner=runner, **kwargs)


def test_settings_refuse_an_unnamed_entry_in_tokens(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="NAME=SECRET"):
        Settings.from_env({}, tokens=("no-name-here",))
    with pytest.raises(InvalidArgumentError, match="cannot read the tokens file"):
        Settings.from_env({}, tokens_file=str(tmp_path / "missing")).credentials()
    with pytest.raises(InvalidArgumentError, match="given twice"):
        Settings.from_env({}, token="t1", tokens=("admin=t2",)).credentials()
