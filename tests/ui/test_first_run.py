"""A first run that shows something: ``jobdeck serve --demo`` on an empty store starts one job that runs, one that
completes and one that fails, so the first screen is not forms and zeros."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.serve_process import ServeProcess
from tests.ui.conftest import Dashboard
from tests.ui.server import TOKEN

pytestmark = pytest.mark.browser


def test_the_demo_starts_a_running_a_finished_and_a_failed_job(browser: Browser, tmp_path: Path) -> None:
    args = ["--demo", "--host", "127.0.0.1", "--store", "memory://", "--demo-speed", "6"]
    with ServeProcess(tmp_path, args, token=TOKEN) as server:
        assert "demo: started 3 first-run jobs" in server.output()
        board = Dashboard(browser, server)  # type: ignore[arg-type]
        try:
            page = board.open().page
            expect(board.active_job("ArgumentCondensation")).to_have_count(1)
            expect(board.card("DataImport").locator(".last-failure")).to_contain_text("Last run failed")
            expect(page.locator("#stat-completed")).not_to_have_text("0")
            expect(page.locator("#stat-failed")).not_to_have_text("0")
        finally:
            server.api("POST", "/abort-all", json={"reason": "test teardown"})
            board.close()
        assert not board.errors
