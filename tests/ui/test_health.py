"""The health counters are doors: each is a link to All jobs filtered to what it counts, over the window it says."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def test_counters_are_links_with_a_stated_window(dashboard: Dashboard) -> None:
    server = dashboard.server
    failed = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
    wait_for(lambda: server.job(failed)["status"] == "failed", timeout=30, what="the import to fail")
    page = dashboard.open().page
    link = page.get_by_role("link", name=re.compile(r"^Failed \d+ in the last 24 h$"))
    expect(link).to_be_visible()
    assert dashboard.stat("failed") >= 1
    # Keyboard: focus it and press Enter; All jobs opens with the counter's filter and window.
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/jobs\?status=failed&range=24h$"))
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.get_by_label("When")).to_have_value("24h")
    expect(page.locator(f'tr[data-job-id="{failed}"]')).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("with status failed, in the last 24 hours")
