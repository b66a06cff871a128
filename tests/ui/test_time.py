"""Time on All jobs: a time range and a sort that live in the address (and so survive a reload), relative times
with the absolute time on hover and for screen readers, one time format and zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from jobdeck.core.model import parse_time
from tests.conftest import wait_for
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser

ABSOLUTE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def test_range_and_sort_survive_a_reload(dashboard: Dashboard) -> None:
    server = dashboard.server
    ids = [server.start_job("Cleanup", {"days": d})["id"] for d in (11, 12)]
    for job_id in ids:
        wait_for(lambda job_id=job_id: server.job(job_id)["status"] == "completed", timeout=30, what="a cleanup")
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    # The default order is visible: by end, newest first.
    expect(page.locator('th[aria-sort="descending"]')).to_have_text(re.compile("Ended"))

    page.get_by_label("When").select_option("1h")
    page.get_by_label("Type").select_option("Cleanup")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"range=1h"))
    expect(page.locator("#summary")).to_contain_text("in the last hour")

    # Sort by start with the keyboard: Tab onto the header's button, Enter; again for the other direction.
    started = page.get_by_role("button", name=re.compile("^Started"))
    started.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=start&dir=desc"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=start&dir=asc"))
    header = page.locator('th[data-sort="start"]')
    expect(header).to_have_attribute("aria-sort", "ascending")

    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("When")).to_have_value("1h")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#summary")).to_contain_text("sorted by start, oldest first")
    rows = page.locator("table#jobs-table tbody tr")
    expect(rows.first).to_be_visible()
    shown = [row.get_attribute("data-job-id") for row in rows.all()]
    starts = [parse_time(server.job(str(job_id))["startTime"]) for job_id in shown]
    assert starts == sorted(starts) and set(ids) <= set(shown)

    # Relative words on screen, the absolute time (with its zone) on hover and for screen readers.
    cell = rows.first.locator(".col-started time")
    expect(cell).to_have_attribute("title", re.compile(f"^{ABSOLUTE}$"))
    expect(cell.locator("[aria-hidden=true]")).to_have_text(re.compile(r"(ago|just now)$"))
    expect(cell.locator(".visually-hidden")).to_have_text(re.compile(f"^{ABSOLUTE}$"))


def test_a_custom_range_from_the_address_and_a_real_clear_button(dashboard: Dashboard) -> None:
    server = dashboard.server
    page = dashboard.open().page
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"{server.url}/jobs?range=custom&from={tomorrow}")
    expect(page.get_by_label("From")).to_have_value(tomorrow)
    expect(page.locator("#summary")).to_have_text(re.compile(r"^No jobs that ran from "))
    clear = page.get_by_role("button", name="Clear")
    clear.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/jobs")
    expect(page.get_by_label("When")).to_have_value("")
    expect(page.get_by_label("From")).to_be_hidden()
