"""Recovery on the dashboard in a real Chromium (issue 21): a job waiting for its next attempt says which attempt and
counts down to it, on its card and its page; the All jobs table has the attempt; the job page lists each failed
attempt's error; Resume is offered, labelled with what it takes over, where something was done or saved, and only
there. Axe-clean in both colour schemes and at phone width, and usable with the keyboard.

The server runs on a SQLite file that the test process also opens: the test plays the job's runner (creating,
failing and retrying the job through the store), so what the page shows has travelled through the file, the
server's event reader and the browser's event stream, whichever runtime the server has.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from jobdeck.runtime.controller import PipelineController
from jobdeck.stores import open_store
from jobdeck.stores.base import Store
from tests.ui.conftest import NO_OVERFLOW, Dashboard, serious
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser

# The test process is the job's runner: an owner that is alive as long as the test is.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
COUNTDOWN = re.compile(r"^ · retrying in (1 min \d\d s|\d{1,2} s)$")


@pytest.fixture(scope="module")
def recovery_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    folder = tmp_path_factory.mktemp("ui-recovery")
    server = UiServer(folder, store=f"sqlite:///{folder / 'jobs.db'}").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(recovery_server: UiServer) -> Iterator[Store]:
    """The server's own SQLite file, opened from the test process; every job the test leaves active is ended."""
    opened = open_store(recovery_server.store)
    try:
        yield opened
    finally:
        opened.close()
        recovery_server.settle()


@pytest.fixture
def board(browser: Browser, recovery_server: UiServer) -> Iterator[Dashboard]:
    dashboard = Dashboard(browser, recovery_server)
    try:
        yield dashboard
    finally:
        dashboard.close()
    assert not dashboard.errors, f"JavaScript errors on the page: {dashboard.errors}"


def running_job(store: Store, job_type: str = "Cleanup", *, max_attempts: int = 5) -> str:
    """A job on its first attempt, of a type that allows ``max_attempts``."""
    job = store.create_job(job_type, "nightly-cron", {"days": 3}, owner=OWNER, max_attempts=max_attempts)
    store.update_progress(job.id, 0.25)
    store.add_info_message(job.id, "removing drafts")
    store.flush()
    return job.id


def fail_attempt(store: Store, job_id: str, *, wait: float = 90.0,
                 error: str = "RateLimitError: 429 Too Many Requests") -> None:
    """The job's first attempt failed: it waits ``wait`` seconds for its second, as the runtime leaves it."""
    max_attempts = store.require_job(job_id, messages=False).max_attempts
    assert store.schedule_retry(job_id, time.time() + wait, attempt=1,
                                message=f"attempt 1 of {max_attempts} failed: {error}; retrying in {wait:.0f} s")
    store.flush()


def waiting_job(store: Store, job_type: str = "Cleanup", *, wait: float = 90.0,
                error: str = "RateLimitError: 429 Too Many Requests") -> str:
    """A job whose first attempt failed and which waits ``wait`` seconds for its second."""
    job_id = running_job(store, job_type)
    fail_attempt(store, job_id, wait=wait, error=error)
    return job_id


def failed_job(store: Store, job_type: str, *, done: int = 0, total: int = 0, saved: int = 0,
               aborted: bool = False, params: dict[str, Any] | None = None) -> str:
    """A job that failed (or was aborted) after finishing ``done`` of ``total`` operations and saving ``saved``
    values."""
    job = store.create_job(job_type, "nightly-cron", params if params is not None else {"rows": 10, "fail_at": 0.1},
                           owner=OWNER)
    if total:
        ctl = PipelineController(job.id, store, known=True)
        ctl.initialize_pipeline([f"question-q{n}" for n in range(1, total + 1)])
        for _ in range(done):
            ctl.progress(1.0)
        ctl.publish_operations()
    for n in range(saved):
        store.save_value(job.id, f"question-q{n + 1}", {"summary": f"answer {n + 1}"})
    if aborted:
        store.request_abort(job.id, "stopped by the test")
        store.mark_aborted(job.id)
    else:
        store.fail_job(job.id, "RateLimitError: 429 Too Many Requests")
    store.flush()
    return job.id


def open_job(page: Page, server: UiServer, job_id: str) -> None:
    page.goto(f"{server.url}/jobs/{job_id}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_a_waiting_retry_shows_its_attempt_and_counts_down(board: Dashboard, store: Store) -> None:
    page = board.open().page
    job_id = running_job(store)
    card = board.active_job("Cleanup")
    expect(card).to_have_attribute("data-job-id", job_id)
    expect(card.locator(".badge")).to_have_text("Running")
    expect(card.locator(".attempt-line")).to_be_hidden()  # a first attempt says nothing about attempts
    fail_attempt(store, job_id)
    expect(card.locator(".badge")).to_have_text("Queued")
    line = card.locator(".attempt-line")
    expect(line.locator(".attempt-text")).to_have_text("Attempt 2 of 5")
    countdown = line.locator(".attempt-countdown")
    expect(countdown).to_have_text(COUNTDOWN)
    # Screen readers get the time of the next attempt, not a number that changes every second ...
    expect(countdown).to_have_attribute("aria-hidden", "true")
    expect(countdown).to_have_attribute("title", re.compile(r"^Next attempt at \d\d:\d\d:\d\d$"))
    expect(line.locator(".attempt-at")).to_have_text(re.compile(r"^, next attempt at \d\d:\d\d:\d\d$"))
    # ... and the change of state is announced once, politely.
    announcer = page.locator("#announcer")
    expect(announcer).to_have_attribute("role", "status")
    expect(announcer).to_have_text(re.compile(
        rf"^Job {job_id[:8]} \(Cleanup\): attempt 1 of 5 failed; attempt 2 starts at \d\d:\d\d:\d\d\.$"))
    said = announcer.inner_text()
    # The countdown moves with the page's clock, not with events (none arrive while the job waits).
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=5_000)
    expect(countdown).to_have_text(COUNTDOWN)
    assert announcer.inner_text() == said
    # One timer for the page: a second waiting job does not add one (two cards, both ticking together).
    other = waiting_job(store, wait=75)
    expect(board.active_job("Cleanup")).to_have_count(2)
    ticks = page.evaluate("""() => new Promise((done) => {
        const seen = new Set();
        const cards = [...document.querySelectorAll('section.active-job .attempt-countdown')];
        const watch = new MutationObserver(() => seen.add(performance.now() | 0));
        for (const c of cards) watch.observe(c, {childList: true, characterData: true, subtree: true});
        setTimeout(() => { watch.disconnect(); done(seen.size); }, 3500);
    })""")
    assert 2 <= ticks <= 5, f"countdowns changed at {ticks} distinct moments in 3.5 s"

    # Aborting a waiting job says what it means.
    mine = board.page.locator(f'section.active-job[data-job-id="{other}"]')
    mine.get_by_role("button", name="Abort").click()
    dialog = page.get_by_role("dialog", name="Abort this job?")
    expect(dialog).to_contain_text("is waiting to retry: it ends at once, with no further attempt")
    dialog.get_by_role("button", name="Abort job").click()
    expect(board.past_job(other).locator(".badge")).to_have_text("Aborted")

    # The next attempt starts: the card says which one runs, and says so once.
    assert store.claim_job(job_id, OWNER) is not None
    store.flush()
    expect(line.locator(".attempt-text")).to_have_text("Attempt 2 of 5")
    expect(card.locator(".badge")).to_have_text("Running")
    expect(countdown).to_have_text("")
    expect(announcer).to_have_text(f"Job {job_id[:8]} (Cleanup): attempt 2 of 5 is running.")
    store.complete_job(job_id, {"removed": 1})
    store.flush()
    expect(board.past_job(job_id).locator(".badge")).to_have_text("Completed")


def test_the_job_page_and_the_table_show_the_attempts(board: Dashboard, store: Store) -> None:
    server = board.server
    page = board.open().page
    job_id = waiting_job(store, error="TimeoutError: read timed out")
    open_job(page, server, job_id)
    expect(page.locator("#job-status")).to_have_text("Queued")
    line = page.locator(".attempt-line")
    expect(line.locator(".attempt-text")).to_have_text("Attempt 2 of 5")
    countdown = line.locator(".attempt-countdown")
    expect(countdown).to_have_text(COUNTDOWN)
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=5_000)
    expect(page.locator("#facts")).to_contain_text("Attempt2 of 5")
    # Each failed attempt's error, in a short list above the messages.
    attempts = page.get_by_role("region", name="Attempts")
    expect(attempts.locator("li")).to_have_count(1)
    expect(attempts.locator("li").first).to_contain_text("Attempt 1 of 5")
    expect(attempts.locator("li").first).to_contain_text("TimeoutError: read timed out; retrying in 90 s")
    # A waiting job can be aborted from its page; it cannot be re-run or resumed while it is active.
    expect(page.get_by_role("button", name="Abort")).to_be_visible()
    expect(page.locator("#rerun")).to_be_hidden()
    expect(page.locator("#resume")).to_be_hidden()

    # The next attempt starts while the page is open: no countdown, the attempt still said; announced once.
    assert store.claim_job(job_id, OWNER) is not None
    store.flush()
    expect(page.locator("#job-status")).to_have_text("Running")
    expect(countdown).to_have_text("")
    expect(line.locator(".attempt-text")).to_have_text("Attempt 2 of 5")
    expect(page.locator("#attempt-news")).to_have_text(f"Job {job_id[:8]} (Cleanup): attempt 2 of 5 is running.")

    # It fails again, for good: the list ends with the last attempt's error.
    assert store.schedule_retry(job_id, time.time() + 60, attempt=2,
                                message="attempt 2 of 5 failed: TimeoutError: read timed out; retrying in 60 s")
    assert store.claim_job(job_id, OWNER) is not None
    store.fail_job(job_id, "ValueError: the provider answered nonsense")
    store.flush()
    expect(page.locator("#job-status")).to_have_text("Failed")
    expect(line).to_be_hidden()
    items = page.get_by_role("region", name="Attempts").locator("li")
    expect(items).to_have_count(3)
    expect(items.nth(1)).to_contain_text("Attempt 2 of 5")
    expect(items.nth(2)).to_contain_text("Attempt 3 of 5")
    expect(items.nth(2)).to_contain_text("ValueError: the provider answered nonsense")

    # The All jobs table: the attempt beside the status.
    page.goto(f"{server.url}/jobs?type=Cleanup")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row.locator(".col-status")).to_contain_text("Failed")
    expect(row.locator(".attempt-short")).to_have_text("3/5attempt 3 of 5")
    expect(row.locator(".attempt-short")).to_have_attribute("title", "Attempt 3 of 5")
    waiting = waiting_job(store)
    waiting_row = page.locator(f'tr[data-job-id="{waiting}"]')
    expect(waiting_row.locator(".attempt-short")).to_contain_text("2/5")
    expect(waiting_row.locator(".col-detail")).to_have_text(re.compile(r"^25% · retrying at \d\d:\d\d:\d\d$"))
    # A type with one attempt shows none.
    single = failed_job(store, "Cleanup", params={"days": 4})
    page.reload()
    expect(page.locator(f'tr[data-job-id="{single}"] .col-status')).to_have_text("Failed")


def test_resume_is_offered_where_work_was_done_and_only_there(board: Dashboard, store: Store) -> None:
    server = board.server
    page = board.open().page
    nothing = failed_job(store, "Cleanup", params={"days": 5})
    halfway = failed_job(store, "DataImport", done=18, total=24)
    stopped = failed_job(store, "QuestionInfoGeneration", done=2, total=5, aborted=True, params={"questions": 5})
    # On the cards: a failed job that did something offers Resume in its notice; one that did nothing does not.
    notice = board.card("DataImport").locator(".last-failure")
    expect(notice.get_by_role("button", name="Resume — 18 of 24 operations done")).to_be_visible()
    expect(board.card("Cleanup").locator(".last-failure")).to_contain_text("429 Too Many Requests")
    expect(board.card("Cleanup").locator(".resume-btn")).to_have_count(0)

    # On the pages, beside Re-run, for failed and aborted jobs alike.
    open_job(page, server, halfway)
    expect(page.get_by_role("button", name="Re-run")).to_be_visible()
    expect(page.get_by_role("button", name="Resume — 18 of 24 operations done")).to_be_visible()
    open_job(page, server, stopped)
    expect(page.locator("#job-status")).to_have_text("Aborted")
    expect(page.get_by_role("button", name="Resume — 2 of 5 operations done")).to_be_visible()
    open_job(page, server, nothing)
    expect(page.get_by_role("button", name="Re-run")).to_be_visible()
    expect(page.locator("#resume")).to_be_hidden()


def test_resume_counts_saved_values_where_no_operation_is_done(board: Dashboard, store: Store) -> None:
    server = board.server
    job_id = failed_job(store, "DataImport", saved=3)
    if "savedKeys" not in server.job(job_id):
        pytest.skip("the single view has no savedKeys on this branch yet (the API part of issue 21 adds it)")
    page = board.open().page
    expect(board.card("DataImport").locator(".last-failure").get_by_role(
        "button", name="Resume — 3 saved values")).to_be_visible()
    open_job(page, server, job_id)
    expect(page.get_by_role("button", name="Resume — 3 saved values")).to_be_visible()


def _resume_endpoint_missing(server: UiServer, store: Store) -> bool:
    """Whether POST /single/{id}/resume is missing on this server: asked about an active job, which the endpoint
    refuses (409) without creating anything."""
    probe = store.create_job("QuestionInfoGeneration", "probe", {"questions": 1}, owner=OWNER)
    store.flush()
    try:
        answer = server.api("POST", f"/single/{probe.id}/resume", json={})
        return answer.status_code in (404, 405)
    finally:
        store.fail_job(probe.id, "probe")
        store.flush()


def test_resume_with_the_keyboard_opens_the_new_job(board: Dashboard, store: Store) -> None:
    server = board.server
    if _resume_endpoint_missing(server, store):
        pytest.skip("POST /single/{id}/resume answers 404/405 on this branch: the API part of issue 21 adds it")
    page = board.open().page
    halfway = failed_job(store, "DataImport", done=18, total=24)
    open_job(page, server, halfway)
    resume = page.get_by_role("button", name="Resume — 18 of 24 operations done")
    page.get_by_role("button", name="Re-run").focus()
    page.keyboard.press("Tab")
    expect(resume).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(f"{server.url}/jobs/{halfway}")
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/jobs/[0-9a-f-]{{36}}$"))
    new_id = page.url.rsplit("/", 1)[1]
    job = server.job(new_id)
    assert (job["resumedFrom"], job["rerunOf"], job["jobType"]) == (halfway, halfway, "DataImport")
    expect(page.locator("#facts")).to_contain_text(f"Resumed from{halfway[:8]}")
    server.settle()

    # From the card's notice too.
    again = failed_job(store, "DataImport", done=3, total=24)
    board.open()
    button = board.card("DataImport").locator(".last-failure").get_by_role(
        "button", name="Resume — 3 of 24 operations done")
    button.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/jobs/[0-9a-f-]{{36}}$"))
    assert server.job(page.url.rsplit("/", 1)[1])["resumedFrom"] == again


@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 390), ("dark", 390)])
def test_recovery_views_are_accessible(browser: Browser, recovery_server: UiServer, store: Store, scheme: str,
                                       width: int) -> None:
    server = recovery_server
    failed = failed_job(store, "DataImport", done=18, total=24)
    board = Dashboard(browser, server, width=width, scheme=scheme)  # type: ignore[arg-type]
    try:
        page = board.open().page
        waiting = waiting_job(store)
        expect(board.active_job("Cleanup").locator(".attempt-countdown")).to_have_text(COUNTDOWN)
        expect(board.card("DataImport").locator(".resume-btn")).to_be_visible()
        problems = {"dashboard": serious(page)}
        overflow = {"dashboard": not page.evaluate(NO_OVERFLOW)}
        open_job(page, server, waiting)
        expect(page.get_by_role("region", name="Attempts").locator("li")).to_have_count(1)
        problems["waiting job page"] = serious(page)
        overflow["waiting job page"] = not page.evaluate(NO_OVERFLOW)
        open_job(page, server, failed)
        expect(page.locator("#resume")).to_be_visible()
        problems["failed job page"] = serious(page)
        overflow["failed job page"] = not page.evaluate(NO_OVERFLOW)
        page.goto(f"{server.url}/jobs")
        expect(page.locator(f'tr[data-job-id="{waiting}"] .attempt-short')).to_be_visible()
        problems["all jobs"] = serious(page)
        assert {view: found for view, found in problems.items() if found} == {}
        assert [view for view, bad in overflow.items() if bad] == []
    finally:
        board.close()
    assert not board.errors
