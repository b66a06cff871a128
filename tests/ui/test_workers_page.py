"""The Workers page (the demo server's own process is its one live worker, busy with a job it links to) and the
diagnosis badge on a dashboard card and on the job page (a job queued for a task engine with no worker: "No
worker"): keyboard-usable and axe clean (issue 22)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.ui.conftest import Dashboard, serious
from tests.ui.server import UiServer
from tests.ui.test_queued import queued_server  # noqa: F401 - the fixture: a Celery executor with no worker

pytestmark = pytest.mark.browser


def test_workers_page_shows_the_live_worker_and_its_job_by_keyboard(dashboard: Dashboard, server: UiServer) -> None:
    page = dashboard.open().page
    job = server.start_job("ArgumentCondensation", {"questions": 30})
    page.get_by_role("link", name="Workers").click()
    expect(page).to_have_url(re.compile(r"/workers$"))
    expect(page.get_by_role("heading", name="Workers", level=1)).to_be_visible()
    row = page.locator("#workers-table tbody tr").first
    expect(row.locator(".worker-state")).to_have_text("busy")
    expect(row).to_contain_text("local")
    expect(page.locator("#workers-summary")).to_contain_text("1 live worker (1 busy)")
    expect(page.locator("#queues-table tbody")).to_contain_text("ArgumentCondensation")
    assert serious(page) == []
    link = row.get_by_role("link", name=f"Job {job['id'][:8]}")
    for _ in range(40):  # Tab until the job's link has the focus: the page is usable without a mouse
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the job's link never got the keyboard focus")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/jobs/{job['id']}$"))
    server.settle()


def test_a_job_no_worker_runs_shows_the_no_worker_badge_and_sentence(
        browser: Browser, queued_server: UiServer) -> None:  # noqa: F811
    board = Dashboard(browser, queued_server)
    try:
        board.open()
        job = queued_server.start_job("Cleanup")
        badge = board.active_job("Cleanup").locator(".diagnosis")
        expect(badge).to_be_visible()
        expect(badge).to_have_attribute("data-code", "no_worker")
        expect(badge).to_contain_text("No worker")
        expect(badge).to_have_attribute("title", "no live worker runs Cleanup")
        assert serious(board.page) == []
        board.page.goto(f"{queued_server.url}/jobs/{job['id']}")
        expect(board.page.locator("#job-diagnosis")).to_have_text("No worker: no live worker runs Cleanup")
        assert serious(board.page) == []
    finally:
        board.close()
    assert not board.errors, f"JavaScript errors on the page: {board.errors}"
