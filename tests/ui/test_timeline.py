"""The timeline: runs of every type over the chosen range, a strip per type, each run a link (by keyboard too),
the range in the address."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def test_a_strip_per_type_each_run_a_link(dashboard: Dashboard) -> None:
    server = dashboard.server
    failed = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
    done = server.start_job("Cleanup", {"days": 31})["id"]
    for job_id in (failed, done):
        wait_for(lambda job_id=job_id: server.job(job_id)["status"] in ("failed", "completed"), timeout=30,
                 what="the runs to end")
    page = dashboard.open().page
    page.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Timeline")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    imports = page.get_by_role("region", name=re.compile("^Data import"))
    run = imports.get_by_role("link", name=re.compile(rf"^Job {failed[:8]}: Failed, started "))
    expect(run).to_be_visible()
    expect(page.get_by_role("region", name=re.compile("^Cleanup")).get_by_role(
        "link", name=re.compile(rf"^Job {done[:8]}: Completed"))).to_be_visible()
    # The bar sits inside its strip.
    lane = imports.get_by_role("list").bounding_box()
    box = run.bounding_box()
    assert lane is not None and box is not None
    assert lane["x"] <= box["x"] and box["x"] + box["width"] <= lane["x"] + lane["width"] + 0.5

    # The range lives in the address and survives a reload.
    page.get_by_label("When").select_option("1h")
    expect(page).to_have_url(re.compile(r"/timeline\?range=1h$"))
    page.reload()
    expect(page.get_by_label("When")).to_have_value("1h")
    expect(page.locator("#summary")).to_contain_text("in the last hour")

    # Keyboard: focus the run and press Enter.
    page.get_by_role("link", name=re.compile(rf"^Job {failed[:8]}")).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/jobs/{failed}")
