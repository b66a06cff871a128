"""The dashboard against a real demo server: start, watch, abort, clean up, fail, reload, filter.

Every action goes through the page as an admin would do it; the server's API is only used to arrange a
situation or to check that what the page shows is what the server holds.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def progress_of(board: Dashboard, job_type: str) -> int:
    value = board.active_job(job_type).get_by_role("progressbar").get_attribute("aria-valuenow")
    return int(value or 0)


def test_start_job_from_the_page_and_watch_it_live(dashboard: Dashboard) -> None:
    board = dashboard.open()
    card = board.card("ArgumentCondensation")
    # The parameter form is built from the type's defaults: a number input for an int default.
    questions = card.get_by_label("questions")
    expect(questions).to_have_attribute("type", "number")
    expect(questions).to_have_value("6")

    job_id = board.start_from_page("ArgumentCondensation", questions=7)
    assert board.server.job(job_id)["params"] == {"questions": 7}
    job = board.active_job("ArgumentCondensation")
    expect(job.locator(".badge")).to_have_text("Running")
    expect(job.locator(".job-id")).to_have_text(job_id[:8])
    expect(job.locator(".job-sub")).to_contain_text("by admin")

    # The type has its one allowed active job: Start is disabled and says why.
    expect(card.get_by_role("button", name="Start")).to_be_disabled()
    expect(card.locator(".start-note")).to_contain_text("already active")

    # Progress moves through live events: a progressbar with a text percentage, then further along.
    bar = job.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuemin", "0")
    expect(bar).to_have_attribute("aria-valuemax", "100")
    first = wait_for(lambda: progress_of(board, "ArgumentCondensation"), timeout=15, what="progress above 0%")
    expect(job.locator(".progress-text")).to_have_text(re.compile(r"^\d+%$"))
    wait_for(lambda: progress_of(board, "ArgumentCondensation") > first + 5, timeout=15, what="progress advancing")
    expect(job.locator(".job-op")).to_have_text(re.compile(r"^question-q\d+-(pros|cons), \d+ of 16$"))
    expect(job.locator(".job-eta")).to_have_text(re.compile(r"^(about \d|a few seconds)"))
    expect(board.page.locator("#stat-active")).to_have_text("1")

    # Messages are open for an active job: info and warnings/errors in separate bounded panels.
    messages = job.locator("details.messages")
    expect(messages).to_have_attribute("open", "")
    info = job.locator(".panel-info .msg-list")
    expect(info.locator("li").first).to_contain_text("Condensing")
    problems = job.locator(".panel-problems .msg-list")
    expect(problems.locator("li").first).to_contain_text("Low confidence")
    expect(problems.locator("li .msg-kind").first).to_have_text("Warning")
    scroll = job.locator(".panel-info .msg-scroll")
    assert scroll.evaluate("el => getComputedStyle(el).overflowY") == "auto"
    assert scroll.evaluate("el => parseFloat(getComputedStyle(el).maxHeight)") > 0

    # It completes and moves to the past jobs of its type, with a duration; Start is enabled again.
    past = board.past_job(job_id)
    expect(past.locator(".badge")).to_have_text("Completed", timeout=30_000)
    expect(job).to_have_count(0)
    expect(past.locator(".job-duration")).to_have_text(re.compile(r"\d"))
    expect(card.get_by_role("button", name="Start")).to_be_enabled()
    expect(board.page.locator("#stat-active")).to_have_text("0")


def test_abort_asks_for_confirmation_and_the_job_ends_aborted(dashboard: Dashboard) -> None:
    board = dashboard.open()
    job_id = board.start_from_page("ArgumentCondensation", questions=30)
    aborted_before = board.stat("aborted")
    job = board.active_job("ArgumentCondensation")
    abort = job.get_by_role("button", name="Abort")
    dialog = board.page.get_by_role("dialog", name="Abort this job?")

    # Escape cancels: the job runs on and focus returns to the button that opened the dialog.
    abort.click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    board.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(abort).to_be_focused()
    assert board.server.job(job_id)["status"] == "running"

    # Confirming with a reason aborts it.
    abort.press("Enter")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason (optional)").fill("wrong question set")
    dialog.get_by_role("button", name="Abort job").click()
    past = board.past_job(job_id)
    expect(past.locator(".badge")).to_have_text("Aborted")
    expect(past.locator(".past-error")).to_have_text("Reason: wrong question set by admin")
    assert board.server.job(job_id)["abortReason"] == "wrong question set"
    expect(board.page.locator("#stat-aborted")).to_have_text(str(aborted_before + 1))


def test_emergency_cleanup_aborts_every_active_job(dashboard: Dashboard) -> None:
    board = dashboard.open()
    first = board.server.start_job("ArgumentCondensation", {"questions": 30})["id"]
    second = board.server.start_job("QuestionInfoGeneration", {"questions": 30})["id"]
    expect(board.page.locator("#stat-active")).to_have_text("2")
    expect(board.page.locator("section.active-job")).to_have_count(2)

    board.page.get_by_role("button", name="Emergency cleanup").click()
    dialog = board.page.get_by_role("dialog", name="Emergency cleanup")
    expect(dialog).to_contain_text("all 2 running jobs")
    dialog.get_by_role("button", name="Abort all jobs").click()
    expect(board.page.locator("#abort-all-note")).to_contain_text("abort requested for 2 jobs")
    for job_id in (first, second):
        expect(board.past_job(job_id).locator(".badge")).to_have_text("Aborted")
    expect(board.page.locator("section.active-job")).to_have_count(0)
    expect(board.page.locator("#stat-active")).to_have_text("0")


def test_failed_job_shows_in_past_jobs_with_its_error(dashboard: Dashboard) -> None:
    board = dashboard.open()
    failed_before = board.stat("failed")
    job_id = board.start_from_page("DataImport", rows=40)
    past = board.past_job(job_id)
    expect(past.locator(".badge")).to_have_text("Failed", timeout=30_000)
    expect(past.locator(".past-error")).to_contain_text("malformed date '31/02/2026'")
    expect(board.page.locator("#stat-failed")).to_have_text(str(failed_before + 1))

    # Past jobs are collapsed; opening one shows all its messages, the error among warnings and errors.
    past_section = board.card("DataImport").locator("details.past")
    past_section.locator("summary").first.click()
    job_details = past.locator("details.past-job")
    expect(job_details).not_to_have_attribute("open", "")
    job_details.locator("summary").click()
    problems = past.locator(".panel-problems .msg-list li")
    expect(problems.filter(has_text="malformed date").locator(".msg-kind")).to_have_text("Error")
    expect(past.locator(".panel-info .msg-list li").last).to_contain_text("Reading 40 rows")

    # The status filter shows only the chosen kind of past jobs, with a count.
    board.page.get_by_label("Completed", exact=True).check()
    expect(past).to_have_count(0)
    expect(past_section.locator(".past-count")).to_have_text(re.compile(r"^0 of \d+$"))
    board.page.get_by_label("Failed", exact=True).check()
    expect(past).to_have_count(1)


def test_reload_shows_the_same_state(dashboard: Dashboard) -> None:
    board = dashboard.open()
    done = board.server.start_job("Cleanup", {"days": 3})["id"]
    expect(board.past_job(done).locator(".badge")).to_have_text("Completed")
    running = board.server.start_job("ArgumentCondensation", {"questions": 30})["id"]
    job = board.active_job("ArgumentCondensation")
    expect(job).to_have_attribute("data-job-id", running)
    wait_for(lambda: progress_of(board, "ArgumentCondensation") > 0, timeout=15, what="progress above 0%")
    before = progress_of(board, "ArgumentCondensation")
    past_count = board.card("Cleanup").locator(".past-count").inner_text()
    messages = int(job.locator(".msg-total").inner_text())

    board.page.reload()
    expect(job).to_have_attribute("data-job-id", running)
    expect(job.locator(".badge")).to_have_text("Running")
    assert progress_of(board, "ArgumentCondensation") >= before
    assert int(job.locator(".msg-total").inner_text()) >= messages > 0
    expect(board.card("Cleanup").locator(".past-count")).to_have_text(past_count)
    expect(board.past_job(done).locator(".badge")).to_have_text("Completed")
