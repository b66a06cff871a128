"""The Failures page and bulk actions in a real Chromium: groups linking to their jobs, "Re-run these N jobs"
through a confirmation that states the count, row selection on All jobs and its dialog, keyboard only, axe clean."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard, serious
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


def _ended(server: UiServer, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: (job := server.job(job_id))["status"] not in ("queued", "running", "aborting") and job,
                    timeout=30, what=f"job {job_id} to end")


def _failed_imports(server: UiServer, n: int) -> list[str]:
    ids = []
    for _ in range(n):  # one at a time: DataImport runs one job at once
        job_id = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
        assert _ended(server, job_id)["status"] == "failed"
        ids.append(job_id)
    return ids


def test_failure_groups_link_to_their_jobs_and_rerun_them_by_keyboard(dashboard: Dashboard) -> None:
    server = dashboard.server
    failed = _failed_imports(server, 2)
    signature = server.job(failed[0])["signature"]
    assert signature and "<n>" in signature
    page = dashboard.open().page
    page.goto(f"{server.url}/failures")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    group = page.locator(f'li.failure-group[data-signature="{signature}"]')
    expect(group).to_have_count(1)
    count = int(re.match(r"(\d+)", group.locator(".count").inner_text())[1])  # type: ignore[index]
    assert count >= 2  # other tests on the shared server may have failed imports too
    expect(group.get_by_role("heading")).to_contain_text(signature)
    assert serious(page) == []

    rerun = group.get_by_role("button", name=f"Re-run these {count} jobs")
    rerun.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text(f"Re-run {count} jobs?")
    expect(dialog).to_contain_text(f"start {count} new jobs with the same type and parameters")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice first
    assert serious(page) == []
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name=f"Re-run {count} jobs")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    note = group.get_by_role("status")
    expect(note).to_contain_text(f"Re-run of {count} jobs started")
    bulk_id = note.get_by_role("link").get_attribute("href").rsplit("/", 1)[1]  # type: ignore[union-attr]
    bulk = _ended(server, bulk_id)
    assert bulk["jobType"] == "jobdeck.bulk" and bulk["result"]["acted"] == count
    # Every re-run the bulk started (the group may hold another test's failed import too) ends before All jobs is
    # read: the bulk has created them all once it has ended.
    for job in server.api("GET", "/search", params={"limit": 200}).json()["jobs"]:
        if job["rerunOf"] is not None:
            _ended(server, job["id"])

    group.get_by_role("link", name=f"Show these {count} jobs").click()
    expect(page).to_have_url(re.compile(r"/jobs\?status=failed&signature="))
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(2 * count)  # the re-runs failed the same way: the group doubled
    for job_id in failed:
        expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(1)


def test_select_rows_and_delete_them_after_a_confirmation(dashboard: Dashboard) -> None:
    server = dashboard.server
    done = []
    for days in (3, 4):
        job_id = server.start_job("Cleanup", {"days": days})["id"]
        _ended(server, job_id)
        done.append(job_id)
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs?type=Cleanup")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    bar = page.get_by_role("group", name="Bulk actions")
    expect(bar.get_by_role("button", name="Delete…")).to_be_disabled()
    for job_id in done:  # keyboard only: focus each box and press Space
        page.get_by_role("checkbox", name=f"Select job {job_id[:8]}").focus()
        page.keyboard.press("Space")
    expect(bar).to_contain_text("2 jobs selected.")
    csv = bar.get_by_role("link", name="Download CSV")
    assert "format=csv" in (csv.get_attribute("href") or "") and "jobType=Cleanup" in (csv.get_attribute("href") or "")
    bar.get_by_role("button", name="Delete…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Delete 2 jobs?")
    expect(dialog).to_contain_text("delete 2 finished jobs and their messages for good")
    assert serious(page) == []
    page.keyboard.press("Escape")  # cancelled: nothing happens
    expect(dialog).to_be_hidden()
    assert all(server.api("GET", f"/single/{i}/progress").status_code == 200 for i in done)
    bar.get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete 2 jobs").click()
    expect(bar.get_by_role("status")).to_contain_text("Delete of 2 jobs started")
    for job_id in done:  # the rows go with the jobs' removed events
        expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(0)
    assert all(server.api("GET", f"/single/{i}/progress").status_code == 404 for i in done)
