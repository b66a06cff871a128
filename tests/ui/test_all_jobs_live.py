"""The All jobs table in a real Chromium follows /events: new jobs appear, rows move with their progress and change
with their status, all without reloading the page; a type filter from the address holds for new jobs too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def open_jobs(dashboard: Dashboard, query: str = "") -> Page:
    page = dashboard.open().page
    page.goto(f"{dashboard.server.url}/jobs{query}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    return page


def test_rows_appear_progress_and_end_without_a_reload(dashboard: Dashboard) -> None:
    server = dashboard.server
    page = open_jobs(dashboard)
    job_id = server.start_job("ArgumentCondensation", {"questions": 4})["id"]
    row = page.locator(f'#jobs-table tbody tr[data-job-id="{job_id}"]')
    expect(row).to_have_count(1)
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", job_id)
    # The demo's condensation retries for real (issue 21): the status cell may carry the attempt ("Running 2/3").
    expect(row.locator(".col-status")).to_have_text(re.compile(r"^Running\b"))
    detail = row.locator(".col-detail")
    expect(detail).to_have_text(re.compile(r"^[1-9][0-9]?%$"))  # moved past 0% with the job's progress
    first = detail.inner_text()
    expect(detail).not_to_have_text(first)  # and keeps moving
    expect(row.locator(".col-status")).to_have_text(re.compile(r"^Completed\b"), timeout=30_000)
    expect(detail).to_have_text("Done")
    expect(row.get_by_role("button", name=f"Re-run job {job_id[:8]}")).to_be_visible()

    failing = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
    failed_row = page.locator(f'#jobs-table tbody tr[data-job-id="{failing}"]')
    expect(failed_row.locator(".col-status")).to_have_text("Failed", timeout=30_000)
    expect(failed_row.locator(".col-detail")).to_contain_text("malformed date")
    assert page.evaluate("window.__sameDocument") is True


def test_a_type_filter_from_the_address_holds_for_new_jobs(dashboard: Dashboard) -> None:
    server = dashboard.server
    page = open_jobs(dashboard, "?type=Cleanup")
    rows = page.locator("#jobs-table tbody tr")
    before = rows.count()
    other = server.start_job("QuestionInfoGeneration", {"questions": 1})["id"]
    cleanup = server.start_job("Cleanup", {"days": 3})["id"]
    # Events arrive in order: once the Cleanup job's row is there, the other job's creation was seen and left out.
    expect(page.locator(f'tr[data-job-id="{cleanup}"]')).to_have_count(1)
    expect(page.locator(f'tr[data-job-id="{other}"]')).to_have_count(0)
    expect(rows).to_have_count(before + 1)
    assert page.evaluate("window.__sameDocument") is True
