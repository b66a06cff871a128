"""Triage in a real Chromium: the All jobs table, job pages by short id, Re-run, failures on the card, the run
chart's text alternative, and axe-core checks of every view."""

from __future__ import annotations

import re
import statistics
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from jobdeck.core.model import parse_time
from tests.conftest import wait_for
from tests.ui.conftest import Dashboard, serious
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


def finished(server: UiServer, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: (job := server.job(job_id))["status"] not in ("queued", "running", "aborting") and job,
                    timeout=30, what=f"job {job_id} to end")


def start_as(server: UiServer, job_type: str, params: dict[str, Any], author: str) -> str:
    response = server.api("POST", "/start", json={"jobType": job_type, "params": params, "author": author})
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_all_jobs_table_with_a_search_and_a_filter_from_the_url(dashboard: Dashboard) -> None:
    server = dashboard.server
    failed = start_as(server, "DataImport", {"rows": 10, "fail_at": 0.1}, "nightly-import@example.org")
    done = start_as(server, "Cleanup", {"days": 7}, "nightly-import@example.org")
    other = start_as(server, "Cleanup", {"days": 8}, "someone-else@example.org")
    for job_id in (failed, done, other):
        finished(server, job_id)
    page = dashboard.open().page
    page.get_by_role("link", name="All jobs").click()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("All jobs")

    # A bookmarked view: the search and the filter come from the address.
    page.goto(f"{server.url}/jobs?q=nightly-import&status=failed")
    expect(page.get_by_label("Search jobs")).to_have_value("nightly-import")
    expect(page.get_by_label("Status")).to_have_value("failed")
    rows = page.locator("table#jobs-table tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_have_attribute("data-job-id", failed)
    expect(row.locator(".col-status")).to_have_text("Failed")
    expect(row.locator(".col-detail")).to_contain_text("malformed date")
    expect(row.get_by_role("link", name=f"Job {failed[:8]}")).to_have_attribute("href", f"jobs/{failed}")

    # Searching from the form updates the address, so the view can be shared.
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search jobs").fill("nightly-import")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/jobs\?q=nightly-import$"))
    ids = [failed, done]
    expect(rows).to_have_count(2)
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.jobId)")) == sorted(ids)
    expect(page.locator("#summary")).to_have_text(re.compile(r"^2 jobs matching"))
    # The header in the table is a real one.
    assert page.locator("table#jobs-table thead th").count() == 11  # Ended, Cost and the selection


def test_job_page_by_short_id_and_rerun_with_the_same_params(dashboard: Dashboard) -> None:
    server = dashboard.server
    original = start_as(server, "Cleanup", {"days": 9}, "ops@example.org")
    finished(server, original)
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs/{original[:8]}")
    expect(page).to_have_url(f"{server.url}/jobs/{original}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Cleanup · job {original[:8]}")
    expect(page.locator("#job-status")).to_have_text("Completed")
    expect(page.locator("#facts")).to_contain_text("ops@example.org")
    expect(page.locator("#job-params")).to_contain_text('"days": 9')
    expect(page.locator("#job-result")).to_contain_text('"removed": 17')
    messages = page.locator("#messages li")
    expect(messages.first).to_contain_text("Removed 17 drafts")          # newest first
    page.get_by_label("Info").uncheck(force=True)
    expect(messages).to_have_count(0)
    page.get_by_label("Info").check(force=True)
    page.get_by_label("Filter messages").fill("older than")
    expect(messages).to_have_count(1)
    expect(page.get_by_role("link", name="Download messages")).to_have_attribute(
        "href", re.compile(rf"/single/{original}/messages\.jsonl$"))

    page.get_by_role("button", name="Re-run").click()
    dialog = page.get_by_role("dialog", name="Re-run job")
    expect(dialog.get_by_label("Days")).to_have_value("9")
    dialog.get_by_role("button", name="Re-run").click()
    # The page goes to the new job, which says what it re-ran.
    expect(page).not_to_have_url(f"{server.url}/jobs/{original}")
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    new_id = page.url.rsplit("/", 1)[1]
    job = server.job(new_id)
    assert (job["jobType"], job["params"], job["rerunOf"]) == ("Cleanup", {"days": 9}, original)
    expect(page.locator("#facts")).to_contain_text(f"Re-run of{original[:8]}")


def test_a_failure_stays_visible_on_its_card(dashboard: Dashboard) -> None:
    server = dashboard.server
    page = dashboard.open().page
    failed = start_as(server, "DataImport", {"rows": 10, "fail_at": 0.1}, "admin")
    finished(server, failed)
    card = dashboard.card("DataImport")
    banner = card.locator(".last-failure")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Last run failed at")
    expect(banner).to_contain_text("ValueError: row 1: malformed date")
    expect(banner.get_by_role("link", name=f"Open job {failed[:8]}")).to_have_attribute("href", f"jobs/{failed}")
    # Still there after a reload (it is state, not a transient notice) ...
    page.reload()
    expect(dashboard.card("DataImport").locator(".last-failure")).to_contain_text("malformed date")
    # ... until the next run starts.
    dashboard.start_from_page("DataImport", rows=1000, fail_at=0.99)
    expect(dashboard.card("DataImport").locator(".last-failure")).to_be_hidden()
    expect(dashboard.card("DataImport").locator(".start-note")).to_have_attribute("role", "status")


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{round(seconds)} s" if seconds < 60 else ""


def test_run_chart_text_alternative_matches_the_runs(dashboard: Dashboard) -> None:
    server = dashboard.server
    for days in (1, 2):
        finished(server, start_as(server, "QuestionInfoGeneration", {"questions": days}, "admin"))
    stopped = start_as(server, "QuestionInfoGeneration", {"questions": 3}, "admin")
    server.api("POST", f"/single/{stopped}/abort", json={"reason": "chart test"})
    finished(server, stopped)
    dashboard.open()
    runs = sorted(server.api("GET", "/past?jobType=QuestionInfoGeneration&messages=none").json(),
                  key=lambda j: parse_time(j["startTime"]) or 0.0)[-20:]
    counts = {s: sum(j["status"] == s for j in runs) for s in ("completed", "failed", "aborted")}
    parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    secs = [(parse_time(j["endTime"]) or 0) - (parse_time(j["startTime"]) or 0) for j in runs]
    decided = counts["completed"] + counts["failed"]
    # The success rate leaves aborts out (an operator's choice, not a failure) and says so.
    expected = (f"Last {len(runs)} run{'s' if len(runs) != 1 else ''}, oldest first: {parts}. "
                f"Success rate {round(100 * counts['completed'] / decided)}% (completed out of the {decided} that "
                "completed or failed; aborts are not counted). "
                f"Median duration {_duration(statistics.median(secs))}.")
    chart = dashboard.card("QuestionInfoGeneration").get_by_role("group", name=re.compile("^Last "))
    expect(chart).to_have_accessible_name(expected)
    expect(chart.locator("rect.bar")).to_have_count(len(runs))
    expect(chart.locator("rect.bar-aborted")).to_have_count(counts["aborted"])
    # Each bar is a link to its run, reached by Tab and followed with Enter.
    newest = chart.get_by_role("link").last
    expect(newest).to_have_accessible_name(re.compile(rf"^Job {stopped[:8]}: Aborted, "))
    newest.focus()
    dashboard.page.keyboard.press("Enter")
    expect(dashboard.page).to_have_url(f"{server.url}/jobs/{stopped}")


@pytest.mark.slow
@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 390), ("dark", 390)])
def test_no_serious_accessibility_violations(browser: Browser, server: UiServer, scheme: str, width: int) -> None:
    failed = start_as(server, "DataImport", {"rows": 10, "fail_at": 0.1}, "admin")
    finished(server, failed)
    board = Dashboard(browser, server, width=width, scheme=scheme)  # type: ignore[arg-type]
    try:
        page = board.open().page
        server.start_job("ArgumentCondensation", {"questions": 30})
        expect(board.active_job("ArgumentCondensation").locator(".panel-info li").first).to_be_visible()
        problems = {"dashboard": serious(page)}
        page.goto(f"{server.url}/jobs")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        problems["all jobs"] = serious(page)
        page.goto(f"{server.url}/jobs/{failed}")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        problems["job page"] = serious(page)
        page.goto(f"{server.url}/timeline")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        problems["timeline"] = serious(page)
        page.goto(f"{server.url}/jobs/{failed}")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        page.get_by_role("button", name="Re-run").click()
        expect(page.get_by_role("dialog", name="Re-run job")).to_be_visible()
        problems["re-run dialog"] = serious(page)
        assert {view: found for view, found in problems.items() if found} == {}
    finally:
        board.close()
        server.settle()
    assert not board.errors
