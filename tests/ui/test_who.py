"""Who did what, in the browser: a named token's holder is recorded as the author of a re-run, the new job says
"Re-run of" and the original "Re-run as", and an abort says who asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser

CAROL = "carol-secret-5b1e97"


def test_a_rerun_by_a_named_token_records_that_name(browser: Browser, server_factory: type[UiServer],
                                                     tmp_path: Path) -> None:
    server = server_factory(tmp_path)
    server.args += ["--token", f"carol={CAROL}"]
    server.start()
    original = server.api("POST", "/start", json={"jobType": "Cleanup", "params": {"days": 4},
                                                   "author": "bob"}).json()["id"]
    wait_for(lambda: server.job(original)["status"] == "completed", timeout=30, what="the original to complete")
    board = Dashboard(browser, server)
    try:
        page = board.page
        page.goto(f"{server.url}/?token={CAROL}")
        page.goto(f"{server.url}/jobs/{original}")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        # Keyboard only: focus Re-run, open the dialog, confirm.
        page.get_by_role("button", name="Re-run").focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Re-run job")
        dialog.get_by_role("button", name="Re-run").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
        expect(page).not_to_have_url(f"{server.url}/jobs/{original}")
        new_id = page.url.rsplit("/", 1)[1]
        assert server.job(new_id)["author"] == "carol"
        facts = page.locator("#facts")
        expect(facts).to_contain_text("Authorcarol")
        expect(facts).to_contain_text(f"Re-run of{original[:8]}")

        wait_for(lambda: server.job(new_id)["status"] == "completed", timeout=30, what="the re-run to complete")
        page.goto(f"{server.url}/jobs/{original}")
        rerun_as = page.locator("#facts div", has_text="Re-run as")
        expect(rerun_as).to_contain_text(f"{new_id[:8]} by carol")
        rerun_as.get_by_role("link", name=f"Job {new_id[:8]}").click()
        expect(page).to_have_url(f"{server.url}/jobs/{new_id}")

        # An abort by carol says so on the page.
        waiting = server.start_job("Cleanup", {"days": 400})["id"]
        page.goto(f"{server.url}/jobs/{waiting}")
        page.get_by_role("button", name="Abort").click()
        expect(page.get_by_role("region", name=re.compile("Abort requested|This job was aborted"))).to_contain_text(
            "by carol")
        wait_for(lambda: server.job(waiting)["abortedBy"] == "carol", timeout=30, what="abortedBy carol")
    finally:
        board.close()
    assert not board.errors
