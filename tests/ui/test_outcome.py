"""A job that ended badly says why first: under the title, above the fold on a phone, with the operation it was
in coloured as failed or stopped, and who aborted it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


def ended(server: UiServer, job_id: str) -> None:
    wait_for(lambda: server.job(job_id)["status"] in ("completed", "failed", "aborted"), timeout=30,
             what=f"job {job_id} to end")


def test_a_failed_job_shows_its_error_first_above_the_fold_on_a_phone(browser: Browser, server: UiServer) -> None:
    job_id = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
    ended(server, job_id)
    phone = Dashboard(browser, server, width=390)
    phone.context.set_default_timeout(15_000)
    try:
        page = phone.page
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{server.url}/?token={server.token}")
        page.goto(f"{server.url}/jobs/{job_id}")
        banner = page.get_by_role("region", name="This job failed")
        expect(banner).to_contain_text("malformed date '31/02/2026'")
        expect(banner).to_contain_text("In operation importing")
        box = banner.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844, box
        # It comes before the facts, the progress and the parameters.
        assert page.evaluate("""() => {
            const banner = document.getElementById('outcome');
            return ['facts', 'job-progress', 'job-params'].every(id =>
                banner.compareDocumentPosition(document.getElementById(id)) & Node.DOCUMENT_POSITION_FOLLOWING);
        }""")
        # The operation it broke in is marked failed, in words and colour.
        broken = page.locator("li.op-failed").first
        expect(broken.locator(".op-state").first).to_have_text("Failed")
        # "Show all messages" by keyboard: every level on, the list in view, focus on its heading.
        page.get_by_role("checkbox", name="Info").uncheck()
        banner.get_by_role("button", name="Show all messages").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("checkbox", name="Info")).to_be_checked()
        expect(page.locator("#messages-title")).to_be_focused()
    finally:
        phone.close()
    assert not phone.errors


def test_an_aborted_job_says_who_aborted_it_and_why(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("Cleanup", {"days": 3})["id"]
    response = server.api("POST", f"/single/{job_id}/abort", json={"reason": "wrong day count"})
    assert response.status_code in (200, 202), response.text
    ended(server, job_id)
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs/{job_id}")
    banner = page.get_by_role("region", name="This job was aborted")
    expect(banner).to_contain_text("Aborted by admin")
    expect(banner).to_contain_text("wrong day count")
    expect(page.locator("#facts")).to_contain_text("Aborted by")
