"""Fixtures for the dashboard tests: headless Chromium (Debian's, never downloaded) and a real demo server.

- ``browser``: one Chromium for the session, through Playwright's sync API (no pytest plugin needed).
- ``server``: one ``jobdeck serve --demo`` (memory store) for the session; each test leaves it with no active job.
- ``dashboard``: a fresh browser context signed in with the token, on the dashboard, no page errors allowed;
  ``finnish`` the same for a browser asking for Finnish.
- ``serious(page)``: axe's serious and critical violations on the page; ``NO_OVERFLOW``: true when the page does
  not scroll sideways.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.conftest import require
from tests.ui.server import UiServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Waits are conditions with deadlines; a loaded CI machine gets the same generous one everywhere.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        require(f"no headless browser: {CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    srv = UiServer(tmp_path_factory.mktemp("ui-server")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[UiServer]]:
    """Start extra servers (for example on a SQLite file); they are stopped after the test."""
    started: list[UiServer] = []

    class Factory(UiServer):
        def start(self) -> UiServer:
            started.append(self)
            return super().start()

    yield Factory
    for srv in started:
        srv.stop()


class Dashboard:
    """A signed-in page on a server, collecting JavaScript errors so that a test can insist on none."""

    def __init__(self, browser: Browser, server: UiServer, width: int = 1280,
                 scheme: Literal["light", "dark"] = "light", locale: str = "en-GB") -> None:
        """``locale`` is the browser's language (its Accept-Language): "fi-FI" asks for the Finnish dashboard."""
        self.server = server
        self.context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme=scheme, locale=locale, timezone_id="UTC")
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, signed_in: bool = True) -> Dashboard:
        if signed_in:
            # The token in the address bar sets the HttpOnly cookie and redirects to the bare dashboard.
            self.page.goto(f"{self.server.url}/?token={self.server.token}")
            expect(self.page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(self.page.locator("#types")).to_have_attribute("aria-busy", "false")
        else:
            self.page.goto(self.server.url)
        return self

    def card(self, job_type: str) -> Locator:
        return self.page.locator(f'article.type-card[data-job-type="{job_type}"]')

    def active_job(self, job_type: str) -> Locator:
        return self.card(job_type).locator("section.active-job")

    def past_job(self, job_id: str) -> Locator:
        return self.page.locator(f'li.past-item[data-job-id="{job_id}"]')

    def stat(self, name: str) -> int:
        """A health counter, once it holds a number (the day's counts arrive just after the first paint)."""
        counter = self.page.locator(f"#stat-{name}")
        expect(counter).to_have_text(re.compile(r"^\d+$"))
        return int(counter.inner_text())

    def start_from_page(self, job_type: str, **params: object) -> str:
        """Fill the card's parameter form, press Start, return the id of the job that appears."""
        card = self.card(job_type)
        for name, value in params.items():
            card.locator(f'[name="{name}"]').fill(str(value))
        card.get_by_role("button", name="Start").click()
        job = self.active_job(job_type)
        expect(job).to_have_count(1)
        job_id = job.get_attribute("data-job-id")
        assert job_id
        return job_id

    def close(self) -> None:
        self.context.close()


def _board(browser: Browser, server: UiServer, locale: str = "en-GB") -> Iterator[Dashboard]:
    board = Dashboard(browser, server, locale=locale)
    try:
        yield board
    finally:
        board.close()
        server.settle()
    assert not board.errors, f"JavaScript errors on the page: {board.errors}"


@pytest.fixture
def dashboard(browser: Browser, server: UiServer) -> Iterator[Dashboard]:
    yield from _board(browser, server)


@pytest.fixture
def finnish(browser: Browser, server: UiServer) -> Iterator[Dashboard]:
    yield from _board(browser, server, "fi-FI")


NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def serious(page: Page) -> list[str]:
    """axe's serious and critical violations on ``page``, each with the first few elements it names."""
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every browser test needs Chromium and a live server: the local loop (`pytest -m "not slow"`) leaves
    # them to `pytest tests/ui` and to CI, which runs everything.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)
