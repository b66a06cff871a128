"""A viewer's dashboard in Chromium: read-only, saying so, with every start and abort control hidden; an admin's
keeps them. Who aborted a job shows on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.ui.conftest import Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser

VIEWER = "ui-viewer-token-77a1c3"


def test_viewer_sees_a_read_only_dashboard(browser: Browser, server_factory: type[UiServer],
                                           tmp_path: Path) -> None:
    srv = server_factory(tmp_path)
    srv.args += ["--viewer-token", VIEWER]
    srv.start()
    running = srv.start_job("ArgumentCondensation", {"questions": 30})
    viewer = Dashboard(browser, srv)
    try:
        page = viewer.page
        page.goto(f"{srv.url}/?token={VIEWER}")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        note = page.locator("#role-note")
        expect(note).to_be_visible()
        expect(note).to_contain_text("role viewer")
        expect(note).to_contain_text("needs the admin role")
        job = viewer.active_job("ArgumentCondensation")
        expect(job).to_have_count(1)  # everything is readable
        expect(viewer.card("Cleanup")).to_be_visible()
        expect(page.locator(".start-btn")).to_have_count(4)  # in the page, but none offered
        expect(page.get_by_role("button", name="Start")).to_have_count(0)
        expect(job.locator(".abort-btn")).to_have_count(1)
        expect(job.locator(".abort-btn")).to_be_hidden()
        expect(page.locator("#abort-all")).to_be_hidden()
        if shots := os.environ.get("JOBDECK_SCREENSHOTS"):
            page.screenshot(path=f"{shots}/viewer.png")

        # An admin stops the job; the viewer's page shows who did.
        aborted = srv.api("POST", f"/single/{running['id']}/abort", json={"reason": "wrong batch"})
        assert aborted.status_code == 202
        past = viewer.past_job(running["id"])
        expect(past).to_contain_text("by admin", timeout=30_000)
        expect(past).to_contain_text("wrong batch")
        assert not viewer.errors, viewer.errors
    finally:
        viewer.close()


def test_admin_keeps_every_control(dashboard: Dashboard) -> None:
    board = dashboard.open()
    page = board.page
    expect(page.locator("#role-note")).to_be_hidden()
    expect(board.card("Cleanup").get_by_role("button", name="Start")).to_be_visible()
    expect(page.get_by_role("button", name="Emergency cleanup")).to_be_visible()
    job_id = board.start_from_page("ArgumentCondensation")
    expect(board.active_job("ArgumentCondensation").get_by_role("button", name="Abort")).to_be_visible()
    assert board.server.api("POST", f"/single/{job_id}/abort", json={}).status_code == 202
