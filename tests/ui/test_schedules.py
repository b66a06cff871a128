"""The Schedules page in a real Chromium against ``jobdeck serve --demo``: create a schedule from the form, pause and
resume it from the keyboard, run it now (its job shows its schedule on its page and in All jobs, which filters by
it), edit it to a cron expression and delete it; the demo's code schedule says it comes from code and offers no
edit or delete; each card shows its schedule's next run; a viewer's page is read-only; axe finds nothing serious
in light and dark."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from jobdeck.cli.demo import DEMO_SCHEDULE
from jobdeck.core.model import format_time, parse_time
from tests.conftest import wait_for
from tests.serve_process import demo_args
from tests.ui.conftest import Dashboard, serious
from tests.ui.server import DEMO_SPEED, UiServer

pytestmark = pytest.mark.browser

VIEWER = "ui-viewer-token-5e0d2b"


def schedule(server: UiServer, schedule_id: str) -> dict[str, Any] | None:
    response = server.api("GET", "/schedules")
    assert response.status_code == 200, response.text
    found = [s for s in response.json() if s["id"] == schedule_id]
    return found[0] if found else None


@pytest.fixture
def made(dashboard: Dashboard) -> Iterator[list[str]]:
    """Ids of the schedules a test makes: deleted afterwards, so that the session's server keeps only the demo's."""
    ids: list[str] = []
    yield ids
    for schedule_id in ids:
        dashboard.server.api("DELETE", f"/schedules/{schedule_id}")


def open_schedules(board: Dashboard) -> Page:
    page = board.open().page
    page.get_by_role("navigation", name="Views").get_by_role("link", name="Schedules").click()
    expect(page).to_have_url(re.compile(r"/schedules$"))
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def row(page: Page, schedule_id: str) -> Any:
    return page.locator(f'tr[data-schedule-id="{schedule_id}"]')


def test_create_pause_resume_and_run_now(dashboard: Dashboard, made: list[str]) -> None:
    server = dashboard.server
    page = open_schedules(dashboard)
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedules")

    # Create: every 7 minutes, a Cleanup with its own params.
    made.append("ui-cleanup")
    page.get_by_label("Name", exact=True).fill("ui-cleanup")
    page.get_by_label("Job type").select_option("Cleanup")
    page.get_by_label("Every", exact=True).fill("7")
    page.get_by_label("Unit").select_option(label="minutes")
    page.get_by_label("Time zone", exact=True).fill("UTC")
    page.get_by_label("Days").fill("12")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator("#sched-note")).to_contain_text("Schedule ui-cleanup created")
    created = schedule(server, "ui-cleanup")
    assert created is not None
    assert (created["jobType"], created["every"], created["params"], created["source"], created["paused"]) == \
        ("Cleanup", 420, {"days": 12}, "admin", False)
    mine = row(page, "ui-cleanup")
    expect(mine.locator(".col-runs")).to_contain_text("every 7 min")
    # Every 7 minutes runs on the multiples of 420 s (since 1970, UTC): the next one is at most 7 minutes away.
    runs = [parse_time(t) or 0.0 for t in created["nextRuns"]]
    assert [round(b - a) for a, b in itertools.pairwise(runs)] == [420] * 4
    assert runs[0] % 420 == 0 and 0 < runs[0] - time.time() <= 420
    expect(mine.locator(".sched-next-rel")).to_have_text(re.compile(r"^in ([1-7] min|\d+ s)$"))
    expect(mine.locator(".col-last")).to_contain_text("Not run yet")
    expect(mine.locator(".col-state")).to_have_text("Active")

    # Pause from the keyboard: the focus stays on the button, which now resumes.
    pause = mine.get_by_role("button", name="Pause schedule ui-cleanup")
    pause.focus()
    page.keyboard.press("Enter")
    expect(mine).to_have_attribute("data-paused", "true")
    expect(mine.locator(".col-next")).to_have_text("Paused")
    expect(mine.locator(".col-state")).to_contain_text("Paused")
    resume = mine.get_by_role("button", name="Resume schedule ui-cleanup")
    expect(resume).to_be_focused()
    assert (schedule(server, "ui-cleanup") or {})["paused"] is True
    page.keyboard.press("Enter")
    expect(mine).to_have_attribute("data-paused", "false")
    expect(mine.get_by_role("button", name="Pause schedule ui-cleanup")).to_be_focused()
    assert (schedule(server, "ui-cleanup") or {})["paused"] is False

    # Run now: a job of the schedule, with its params, shown as the last run and linked to the job.
    mine.get_by_role("button", name="Run schedule ui-cleanup now").click()
    expect(mine.locator(".action-note")).to_have_text(re.compile(r"^Started job [0-9a-f]{8}\.$"))
    short = (mine.locator(".action-note").inner_text())[len("Started job "):-1]
    last = wait_for(lambda: (schedule(server, "ui-cleanup") or {}).get("lastRun"), timeout=15,
                    what="the schedule's last run")
    job_id = last["jobId"]
    assert job_id.startswith(short)
    job = server.job(job_id)
    assert (job["scheduleId"], job["jobType"], job["params"]) == ("ui-cleanup", "Cleanup", {"days": 12})
    link = mine.locator(".col-last").get_by_role("link", name=f"Job {short}")
    expect(link).to_have_attribute("href", f"jobs/{job_id}")

    # The job's page says which schedule started it.
    link.click()
    expect(page).to_have_url(f"{server.url}/jobs/{job_id}")
    facts = page.locator("#facts")
    expect(facts).to_contain_text("Schedule")
    expect(facts.get_by_role("link", name="Schedule ui-cleanup")).to_have_attribute(
        "href", "schedules#schedule-ui-cleanup")

    # All jobs shows it on the row and filters by it: only this schedule's job.
    server.start_job("Cleanup", {"days": 3})  # a job no schedule started
    page.goto(f"{server.url}/jobs?schedule=ui-cleanup")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("Schedule", exact=True)).to_have_value("ui-cleanup")
    rows = page.locator("table#jobs-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job-id", job_id)
    expect(rows.first.locator(".schedule-tag")).to_have_text("schedule ui-cleanup")
    expect(page.locator("#summary")).to_contain_text("started by schedule ui-cleanup")


def test_edit_to_a_cron_expression_then_delete(dashboard: Dashboard, made: list[str]) -> None:
    server = dashboard.server
    made.append("ui-edit")
    response = server.api("POST", "/schedules", json={"id": "ui-edit", "jobType": "Cleanup", "every": 3600,
                                                       "params": {"days": 5}})
    assert response.status_code == 201, response.text
    page = open_schedules(dashboard)
    mine = row(page, "ui-edit")
    expect(mine.locator(".col-runs")).to_contain_text("every 1 h")

    mine.get_by_role("button", name="Edit schedule ui-edit").click()
    expect(page.get_by_role("heading", name="Edit schedule ui-edit")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("ui-edit")
    expect(page.get_by_label("Every", exact=True)).to_be_focused()
    expect(page.get_by_label("Unit")).to_have_value("3600")
    page.get_by_label("On a cron expression").check()
    page.get_by_label("Cron expression", exact=True).fill("not a cron")
    page.get_by_label("Time zone", exact=True).fill("Europe/Helsinki")
    page.get_by_role("button", name="Save changes").click()
    # The server's refusal names the problem; nothing changed.
    expect(page.locator("#sched-note")).to_contain_text("cron")
    expect(page.locator("#sched-note")).to_have_attribute("data-kind", "error")
    assert (schedule(server, "ui-edit") or {})["every"] == 3600

    page.get_by_label("Cron expression", exact=True).fill("30 2 * * *")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#sched-note")).to_have_text("Schedule ui-edit saved.")
    changed = schedule(server, "ui-edit") or {}
    assert (changed["cron"], changed.get("every"), changed["timezone"], changed["params"]) == \
        ("30 2 * * *", None, "Europe/Helsinki", {"days": 5})
    expect(mine.locator(".col-runs")).to_contain_text("cron 30 2 * * *")
    expect(mine.locator(".col-runs")).to_contain_text("Europe/Helsinki")
    expect(page.get_by_role("heading", name="New schedule")).to_be_visible()

    # Delete asks first; Cancel keeps it, and the focus goes back to the button.
    delete = mine.get_by_role("button", name="Delete schedule ui-edit")
    delete.click()
    dialog = page.get_by_role("dialog", name="Delete schedule?")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(delete).to_be_focused()
    delete.click()
    dialog.get_by_role("button", name="Delete schedule").click()
    expect(mine).to_have_count(0)
    expect(page.locator("#summary")).to_contain_text("Schedule ui-edit deleted.")
    assert schedule(server, "ui-edit") is None


def test_a_one_off_start_says_when_it_starts(dashboard: Dashboard) -> None:
    server = dashboard.server
    due = time.time() + 2 * 3600
    response = server.api("POST", "/start", json={"jobType": "DataImport", "params": {"rows": 10},
                                                   "runAt": format_time(due)})
    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["status"], parse_time(job["runAt"])) == ("queued", round(due, 3))
    board = dashboard.open()
    card = board.active_job("DataImport")
    expect(card.locator(".job-started")).to_have_text(re.compile(r"^Starts \d\d:\d\d:\d\d$"))
    expect(card.locator(".job-elapsed")).to_have_text("in 2 h")
    expect(card.locator(".attempt-line")).to_be_hidden()  # due later, not retrying
    page = board.page
    page.goto(f"{server.url}/jobs")
    expect(page.locator(f'tr[data-job-id="{job["id"]}"] .col-detail')).to_have_text(
        re.compile(r"^starts \d\d:\d\d:\d\d \(in 2 h\)$"))
    page.goto(f"{server.url}/jobs/{job['id']}")
    expect(page.locator("#facts")).to_contain_text(re.compile(r"Due.*\(in 2 h\)"))
    page.get_by_role("button", name="Abort").click()  # before it is due: it ends at once, without running
    wait_for(lambda: server.job(job["id"])["status"] == "aborted", timeout=15, what="the job to end aborted")


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """A demo server with the demo's code schedule (the session's leaves it out) and a viewer token."""
    srv = UiServer(tmp_path_factory.mktemp("ui-scheduled"))
    srv.args = demo_args("memory://", DEMO_SPEED, "--viewer-token", VIEWER, schedule=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_a_code_schedule_says_so_and_shows_on_its_card(browser: Browser, scheduled: UiServer) -> None:
    board = Dashboard(browser, scheduled)
    try:
        page = open_schedules(board)
        demo = row(page, DEMO_SCHEDULE)
        expect(demo.locator(".col-state")).to_contain_text("from code")
        expect(demo.locator(".col-runs")).to_contain_text("every 10 min")
        expect(demo.get_by_role("button", name=f"Pause schedule {DEMO_SCHEDULE}")).to_be_visible()
        expect(demo.get_by_role("button", name=f"Run schedule {DEMO_SCHEDULE} now")).to_be_visible()
        expect(demo.get_by_role("button")).to_have_count(2)  # no Edit, no Delete
        expect(demo.locator(".sched-next-rel")).to_have_text(re.compile(r"^in \d+ (s|min)$"))

        page.goto(scheduled.url + "/")
        line = board.card("Cleanup").locator(".type-schedule")
        expect(line).to_contain_text("Next scheduled run")
        expect(line).to_contain_text(re.compile(r"\(in \d+ (s|min)\)"))
        expect(line.get_by_role("link", name=f"Schedule {DEMO_SCHEDULE}")).to_have_attribute(
            "href", f"schedules#schedule-{DEMO_SCHEDULE}")
        expect(board.card("DataImport").locator(".type-schedule")).to_have_count(0)
        line.get_by_role("link", name=f"Schedule {DEMO_SCHEDULE}").click()
        expect(page).to_have_url(f"{scheduled.url}/schedules#schedule-{DEMO_SCHEDULE}")
        expect(row(page, DEMO_SCHEDULE)).to_be_in_viewport()
    finally:
        board.close()
    assert not board.errors, board.errors


def test_a_viewer_sees_schedules_read_only(browser: Browser, scheduled: UiServer) -> None:
    viewer = Dashboard(browser, scheduled)
    try:
        page = viewer.page
        page.goto(f"{scheduled.url}/?token={VIEWER}")
        page.goto(f"{scheduled.url}/schedules")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("#role-note")).to_contain_text("needs the admin role")
        expect(row(page, DEMO_SCHEDULE)).to_have_count(1)
        expect(page.locator("#schedules-table").get_by_role("button")).to_have_count(0)
        expect(page.locator("#editor")).to_be_hidden()
        # The server refuses a viewer's change whatever the page offers.
        refused = httpx.patch(f"{scheduled.url}/api/admin/jobs/schedules/{DEMO_SCHEDULE}", json={"paused": True},
                              headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10)
        assert refused.status_code == 403, refused.text
    finally:
        viewer.close()
    assert not viewer.errors, viewer.errors


def test_signed_out_the_page_sends_to_sign_in(browser: Browser, server: UiServer) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"{server.url}/schedules")
        assert response is not None
        expect(page).to_have_url(f"{server.url}/")
        expect(page.get_by_label("Access token")).to_be_visible()
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(browser: Browser, server: UiServer, scheme: str) -> None:
    created = server.api("POST", "/schedules", json={"id": f"ui-axe-{scheme}", "jobType": "Cleanup",
                                                      "cron": "0 3 * * *", "timezone": "Europe/Helsinki"})
    assert created.status_code == 201, created.text
    board = Dashboard(browser, server, scheme=scheme)  # type: ignore[arg-type]
    try:
        page = open_schedules(board)
        expect(row(page, f"ui-axe-{scheme}")).to_have_count(1)
        problems = {"schedules": serious(page)}
        row(page, f"ui-axe-{scheme}").get_by_role("button", name=f"Edit schedule ui-axe-{scheme}").click()
        expect(page.get_by_label("Cron expression", exact=True)).to_be_visible()
        problems["editing"] = serious(page)
        row(page, f"ui-axe-{scheme}").get_by_role("button", name=f"Delete schedule ui-axe-{scheme}").click()
        expect(page.get_by_role("dialog", name="Delete schedule?")).to_be_visible()
        problems["delete dialog"] = serious(page)
        page.keyboard.press("Escape")
        page.goto(f"{server.url}/")
        expect(board.card("Cleanup").locator(".type-schedule")).to_have_count(1)
        problems["dashboard"] = serious(page)
        assert {view: found for view, found in problems.items() if found} == {}
    finally:
        board.close()
        server.api("DELETE", f"/schedules/ui-axe-{scheme}")
    assert not board.errors
