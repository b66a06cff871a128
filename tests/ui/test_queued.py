"""The dashboard with a task engine and no worker running: a started job shows as Queued with how long it has
waited, counts as active, and aborting it from the page ends it at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.engines.conftest import RedisBroker
from tests.ui.conftest import Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


@pytest.fixture
def queued_server(tmp_path: Path) -> Iterator[UiServer]:
    broker = RedisBroker(tmp_path)
    broker.start()
    server = UiServer(tmp_path, store=f"sqlite:///{tmp_path / 'jobs.db'}")
    server.args += ["--executor", f"celery+{broker.url}"]
    try:
        yield server.start(timeout=60)
    finally:
        server.stop()
        broker.stop()


def test_a_job_waiting_for_a_worker_shows_as_queued_and_aborts_at_once(browser: Browser,
                                                                        queued_server: UiServer) -> None:
    board = Dashboard(browser, queued_server)
    try:
        board.open()
        job = queued_server.start_job("Cleanup")
        assert job["status"] == "queued"
        active = board.active_job("Cleanup")
        expect(active.locator(".badge")).to_have_text("Queued")
        expect(active.locator(".job-started")).to_contain_text("Queued")
        expect(active.locator(".job-elapsed")).to_have_text(re.compile(r"^waiting \d"))
        expect(board.page.locator("#stat-active-sub")).to_contain_text("1 queued")
        assert board.stat("active") == 1
        active.locator(".abort-btn").click()
        dialog = board.page.get_by_role("dialog", name="Abort this job?")
        expect(dialog).to_contain_text("waiting for a worker: it ends at once and never runs")
        dialog.get_by_role("button", name="Abort job").click()
        expect(board.past_job(job["id"]).locator(".badge")).to_have_text("Aborted")
        assert queued_server.job(job["id"])["status"] == "aborted"
    finally:
        board.close()
    assert not board.errors, f"JavaScript errors on the page: {board.errors}"
