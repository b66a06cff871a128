"""Losing the live stream, a server restart, a pipeline in another process, and a lot of data.

These tests run their own server on a SQLite file, which the test process also opens: it plays a job
running in another process (as a worker or a cron script would), so what the page shows has travelled
through the file, the server's event reader and the browser's event stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from jobdeck.runtime.controller import PipelineController
from jobdeck.stores import open_store
from jobdeck.stores.base import Store
from tests.conftest import wait_for
from tests.ui.conftest import Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


@pytest.fixture
def sqlite_server(server_factory: type[UiServer], tmp_path: Path) -> UiServer:
    return server_factory(tmp_path, store=f"sqlite:///{tmp_path}/jobs.db").start()


@pytest.fixture
def store(sqlite_server: UiServer) -> Iterator[Store]:
    """The server's own SQLite file, opened from the test process."""
    opened = open_store(sqlite_server.store)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def board(browser: Browser, sqlite_server: UiServer) -> Iterator[Dashboard]:
    dashboard = Dashboard(browser, sqlite_server)
    try:
        yield dashboard
    finally:
        dashboard.close()
    assert not dashboard.errors, f"JavaScript errors on the page: {dashboard.errors}"


def test_stream_blocked_the_page_polls_and_catches_up(board: Dashboard, store: Store) -> None:
    page = board.page

    def refuse(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json", body='{"error": "unavailable"}')

    page.route("**/events*", refuse)
    page.goto(f"{board.server.url}/?token={board.server.token}")
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "reconnecting")
    expect(connection).to_contain_text("Reconnecting")

    # Without a stream, the page still follows a job: polling /active, /past and the job's messages.
    job = store.create_job("Cleanup", "nightly-cron", {"days": 7})
    store.update_progress(job.id, 0.4)
    store.add_message(job.id, "info", "removing drafts of last week")
    store.flush()
    active = board.active_job("Cleanup")
    expect(active).to_have_attribute("data-job-id", job.id)
    expect(active.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "40")
    expect(active.locator(".panel-info li").first).to_contain_text("removing drafts of last week")
    store.complete_job(job.id, {"removed": 2})
    store.flush()
    expect(board.past_job(job.id).locator(".badge")).to_have_text("Completed")

    # The stream comes back: the page says so and goes on with live events.
    page.unroute("**/events*")
    expect(connection).to_have_attribute("data-state", "live")
    second = store.create_job("Cleanup", "nightly-cron", {"days": 7})
    store.flush()
    expect(board.active_job("Cleanup")).to_have_attribute("data-job-id", second.id)
    store.complete_job(second.id)
    store.flush()
    expect(board.past_job(second.id).locator(".badge")).to_have_text("Completed")


def test_server_restart_shows_reconnecting_then_catches_up_without_reload(
        board: Dashboard, store: Store) -> None:
    board.open()
    page = board.page
    page.evaluate("window.sameDocument = true")
    board.server.stop()
    connection = page.locator("#connection")
    expect(connection).to_contain_text("Reconnecting")
    expect(connection).to_have_attribute("data-state", "reconnecting")

    # While the server is down, a job runs to its end in another process.
    job = store.create_job("Cleanup", "nightly-cron", {"days": 7})
    store.add_message(job.id, "warning", "one draft was locked and kept")
    store.complete_job(job.id, {"removed": 16})
    store.flush()

    board.server.start()
    expect(connection).to_have_attribute("data-state", "live", timeout=30_000)
    expect(board.past_job(job.id).locator(".badge")).to_have_text("Completed")
    assert page.evaluate("window.sameDocument") is True, "the page reloaded instead of catching up"
    expect(page.locator("#stat-completed")).to_have_text("1")

    # Live again: a job started from the page after the restart shows its progress.
    board.start_from_page("Cleanup", days=2)
    expect(board.active_job("Cleanup").locator(".badge")).to_have_text("Running")


def test_aborting_waits_for_a_pipeline_in_another_process(board: Dashboard, store: Store) -> None:
    board.open()
    job = store.create_job("ArgumentCondensation", "etl-worker", {"questions": 2})
    ctl = PipelineController(job.id, store)
    ctl.progress(0.3)
    store.flush()
    active = board.active_job("ArgumentCondensation")
    expect(active.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "30")
    expect(active.locator(".job-sub")).to_contain_text("by etl-worker")

    active.get_by_role("button", name="Abort").click()
    board.page.get_by_role("dialog", name="Abort this job?").get_by_role("button", name="Abort job").click()
    # The worker has not looked yet: the page shows the job aborting and waiting for the pipeline.
    expect(active.locator(".badge")).to_have_text("Aborting")
    expect(active.locator(".aborting-note")).to_contain_text("waiting for the pipeline to stop")
    expect(active.get_by_role("button", name="Aborting…")).to_be_disabled()
    expect(board.page.locator("#stat-active-sub")).to_have_text("now: 0 running · 1 aborting")

    wait_for(ctl.is_abort_requested, timeout=10, what="the abort request to reach the worker")
    with ctl:
        ctl.check_abort()  # raises AbortError, which the controller records as aborted
    store.flush()
    expect(board.past_job(job.id).locator(".badge")).to_have_text("Aborted")
    expect(active).to_have_count(0)


def test_thousands_of_messages_and_hundreds_of_past_jobs_stay_bounded(board: Dashboard, store: Store) -> None:
    busy = store.create_job("ArgumentCondensation", "etl-worker", {"questions": 50})
    for i in range(1000):
        store.add_message(busy.id, "info", f"condensed argument {i}")
        store.add_message(busy.id, "warning", f"low confidence {i}")
        store.add_message(busy.id, "error", f"retried {i}")
    past_ids = []
    for i in range(130):
        done = store.create_job("Cleanup", "nightly-cron", {"days": i + 1})
        store.add_message(done.id, "info", f"removed {i} drafts")
        store.complete_job(done.id, {"removed": i})
        past_ids.append(done.id)
    store.flush()

    board.open()
    active = board.active_job("ArgumentCondensation")
    info, problems = active.locator(".panel-info"), active.locator(".panel-problems")
    expect(info.locator(".msg-count")).to_have_text("1000")
    expect(problems.locator(".msg-count")).to_have_text("2000")
    # Only the newest messages are in the DOM, newest first, in a panel that scrolls within its height.
    expect(problems.locator("li")).to_have_count(500)
    expect(problems.locator("li").first).to_contain_text("retried 999")
    expect(problems.locator(".msg-more")).to_contain_text("Showing the newest 500 of 2000")
    scroll = info.locator(".msg-scroll")
    assert scroll.evaluate("el => el.scrollHeight > el.clientHeight")
    info.get_by_role("button", name="Show older").click()
    expect(info.locator("li")).to_have_count(1000)

    # A new message goes on top without re-rendering the list.
    page = board.page
    page.evaluate("document.querySelector('section.active-job .panel-info li').dataset.kept = 'yes'")
    store.add_message(busy.id, "info", "fresh message")
    store.flush()
    expect(info.locator("li").first).to_contain_text("fresh message")
    expect(info.locator("li[data-kept='yes']")).to_have_count(1)

    # Past jobs: all counted, a page of them rendered, more on request, messages loaded when opened.
    card = board.card("Cleanup")
    expect(card.locator(".past-count")).to_have_text("130")
    card.locator("details.past > summary").click()
    expect(card.locator("li.past-item")).to_have_count(50)
    expect(card.locator("li.past-item").first).to_have_attribute("data-job-id", past_ids[-1])
    card.get_by_role("button", name="Show more (80 older)").click()
    expect(card.locator("li.past-item")).to_have_count(100)
    oldest_shown = board.past_job(past_ids[30])
    oldest_shown.locator("summary").click()
    expect(oldest_shown.locator(".panel-info .msg-text")).to_have_text(["removed 30 drafts"])
