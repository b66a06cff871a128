"""A diagnosis's sentence is written in the reader's language (the ``jobdeck_lang`` cookie, else
``Accept-Language``); its code is the same in every language, and answers cached for one language are never
served to another."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from jobdeck import JobRunner, PipelineController
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN

pytestmark = pytest.mark.anyio


async def test_the_same_active_job_is_diagnosed_in_each_readers_language(
        runner: JobRunner, make_client: Callable[[FastAPI], httpx.AsyncClient]) -> None:
    release = threading.Event()

    def hold(ctl: PipelineController) -> None:
        release.wait(30)

    runner.register("HeldForWords", hold)
    job = runner.start("HeldForWords", "alice")
    try:
        async with make_client(create_app(runner=runner, token=TOKEN)) as client:
            seen = {}
            for name, headers in (("en", {"Accept-Language": "en-GB"}), ("fi", {"Accept-Language": "fi-FI"}),
                                  ("en-again", {"Accept-Language": "fi", "Cookie": "jobdeck_lang=en"})):
                for path in ("/active", f"/single/{job.id}/progress"):
                    response = await client.get(PREFIX + path, headers={**AUTH, **headers})
                    assert response.status_code == 200
                    body = response.json()
                    found = body[0] if isinstance(body, list) else body
                    seen[name, path] = found["diagnosis"]
        for path in ("/active", f"/single/{job.id}/progress"):
            assert seen["en", path]["code"] == seen["fi", path]["code"] == "ok"
            assert seen["en", path]["text"].startswith("working: last report")
            assert seen["fi", path]["text"].startswith("työskentelee: viimeisin ilmoitus")
            assert seen["en-again", path]["text"].startswith("working: last report")  # the switcher's choice wins
    finally:
        release.set()
