"""The dashboard on a long history (SQLite): cards and counts come from summaries, a past job's messages load
when it is opened (newest first) and older ones on demand."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from jobdeck import open_store
from jobdeck.stores import Store
from tests.conftest import wait_for
from tests.ui.conftest import Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.slow

JOBS = 300
BIG = 450  # info messages of the newest job: more than the dashboard loads when a job is opened


def fill_history(store: Store) -> str:
    """JOBS past jobs of an unregistered type, a few messages each, every tenth failed; the newest has BIG
    messages. Returns the newest job's id."""
    job_id = ""
    for n in range(JOBS):
        job = store.create_job("Archive", "me", {"n": n})
        for m in range(BIG if n == JOBS - 1 else 3):
            store.add_info_message(job.id, f"job {n} message {m}")
        if n % 10 == 9:
            store.fail_job(job.id, f"job {n} broke")
        else:
            store.complete_job(job.id)
        job_id = job.id
    store.flush()
    return job_id


@pytest.fixture
def history_server(server_factory: type[UiServer], tmp_path: Path) -> Iterator[tuple[UiServer, str]]:
    url = f"sqlite:///{tmp_path}/jobs.db"
    store = open_store(url, max_past_jobs=JOBS + 100)
    try:
        newest = fill_history(store)
    finally:
        store.close()
    yield server_factory(tmp_path, store=url).start(), newest


def test_cards_and_counts_then_messages_on_open(browser: Browser,
                                                history_server: tuple[UiServer, str]) -> None:
    server, newest = history_server
    board = Dashboard(browser, server)
    requests: list[str] = []
    board.page.on("request", lambda r: requests.append(r.url))
    try:
        board.open()
        page = board.page
        expect(page.locator("#stat-completed")).to_have_text(str(JOBS - JOBS // 10))
        expect(page.locator("#stat-failed")).to_have_text(str(JOBS // 10))
        card = board.card("Archive")
        expect(card.locator(".past-count")).to_have_text(str(JOBS))
        # The history came as summaries: no request for past jobs carried their messages.
        past = [u for u in requests if "/past?" in u]
        assert "messages=none" in past[0] and not [u for u in past if "messages=all" in u or "messages=" not in u]
        # A failed job shows why it failed (loaded after the first paint).
        card.locator("details.past").evaluate("d => d.open = true")
        failed = card.locator("li.past-item", has=page.locator(".badge-failed")).first
        expect(failed.locator(".past-error")).to_contain_text("broke")
        # Opening the newest job loads its newest messages first...
        item = board.past_job(newest)
        item.locator("summary").click()
        info = item.locator(".panel-info")
        expect(info.locator("li.msg .msg-text").first).to_have_text(f"job {JOBS - 1} message {BIG - 1}")
        expect(info.locator("li.msg")).not_to_have_count(0)
        assert info.locator("li.msg").count() < BIG
        assert not page.get_by_text(f"job {JOBS - 1} message 0", exact=True).count()
        # ...and the older ones on demand.
        info.get_by_role("button", name="Show older").click()
        expect(info.locator(".msg-count")).to_have_text(str(BIG))
        expect(info.locator("li.msg .msg-text").last).to_have_text(f"job {JOBS - 1} message 0")
    finally:
        board.close()
    assert not board.errors, board.errors


def test_cards_and_counts_come_before_the_rest_of_the_history(browser: Browser,
                                                              history_server: tuple[UiServer, str]) -> None:
    """The cards draw from /past/summary (the store's counts and each type's newest jobs) while the list of every
    past job is still on its way; the rest shows once it arrives."""
    server, newest = history_server
    board = Dashboard(browser, server)
    held: list[Route] = []

    def hold(route: Route) -> None:  # the list of every past job waits here until the test lets it go
        held.append(route)

    board.page.route(re.compile(r"/past\?messages=none&limit="), hold)
    try:
        board.open()
        page = board.page
        wait_for(lambda: bool(held), timeout=15, what="the request for the whole history")
        card = board.card("Archive")
        expect(card.locator(".past-count")).to_have_text(str(JOBS))  # counted by the store, not by the page
        expect(page.locator("#stat-failed")).to_have_text(str(JOBS // 10))
        expect(card.locator("li.past-item")).to_have_count(50)
        expect(card.locator("li.past-item").first).to_have_attribute("data-job-id", newest)
        # The chart of the last 20 runs (the fill starts jobs within the same milliseconds: which 20 is open).
        expect(card.locator(".run-summary")).to_have_text(re.compile(r"^Last 20 runs, oldest first: \d+ completed"))
        page.get_by_label("Failed", exact=True).check()
        expect(card.locator(".past-count")).to_have_text(f"{JOBS // 10} of {JOBS}")
        page.get_by_label("All", exact=True).check()
        assert len(held) == 1
        held[0].continue_()
        card.locator("details.past").evaluate("d => d.open = true")
        expect(card.get_by_role("button", name=f"Show more ({JOBS - 50} older)")).to_be_visible()
        expect(card.locator(".past-count")).to_have_text(str(JOBS))
    finally:
        board.close()
    assert not board.errors, board.errors
