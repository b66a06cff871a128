"""The dashboard in the admin's own language (issue 25, item 11): a browser asking for Finnish gets the Finnish
dashboard (its words from the catalog, times and numbers written the Finnish way); the header's language switcher,
used by keyboard alone, changes the language, and the choice is remembered across a reload and on the other pages
and beats the browser's Accept-Language; the Finnish dashboard is axe clean in both schemes and both widths and
does not scroll sideways on a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from jobdeck.core.i18n import translate
from tests.conftest import wait_for
from tests.ui.conftest import NO_OVERFLOW, Dashboard, serious
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


# Words of the dashboard page that are on screen whatever the jobs: each must read in Finnish and not in English.
ALWAYS_SHOWN = ["dash.heading", "dash.abort_all", "dash.health", "dash.stat_active", "dash.last_24h",
                "dash.job_types", "dash.past_filter", "dash.filter_failed", "card.start", "card.past_jobs",
                "header.sign_out", "nav.jobs", "live.live"]
# Words on a running job's card.
ON_A_RUNNING_JOB = ["card.abort", "card.operation", "card.elapsed", "card.remaining", "card.messages",
                    "panel.problems", "panel.info", "panel.taller"]


def _finished(server: UiServer, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: (job := server.job(job_id))["status"] not in ("queued", "running", "aborting") and job,
                    timeout=30, what=f"job {job_id} to end")


def _text(page: Page) -> str:
    """The page's words as written (inner_text would show a heading's CSS capitals)."""
    return page.locator("body").text_content() or ""


def _tab_to(page: Page, element_id: str, limit: int = 30) -> None:
    """Press Tab until the element ``element_id`` has the focus (the keyboard's way there)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} was not reached with Tab")


def test_a_browser_asking_for_finnish_gets_the_finnish_dashboard(browser: Browser, server: UiServer) -> None:
    board = Dashboard(browser, server, locale="fi-FI")
    try:
        page = board.open().page
        expect(page.locator("html")).to_have_attribute("lang", "fi")
        expect(page).to_have_title("jobdeck · työt")
        expect(page.get_by_role("heading", level=1)).to_have_text("Koontinäyttö")
        expect(page.get_by_role("navigation", name="Näkymät").get_by_role("link", name="Kaikki työt")).to_be_visible()
        expect(page.get_by_role("button", name="Kirjaudu ulos")).to_be_visible()
        expect(page.locator("#connection")).to_have_text("Päivittyy")
        card = board.card("ArgumentCondensation")
        expect(card.get_by_role("button", name="Käynnistä")).to_be_visible()

        job_id = server.start_job("ArgumentCondensation", {"questions": 30})["id"]
        job = board.active_job("ArgumentCondensation")
        expect(job.locator(".panel-info li").first).to_be_visible()
        expect(job).to_have_attribute("aria-label", f"Aktiivinen työ {job_id[:8]}")
        # A time the Finnish way: "Alkoi 5.07.12" (dots, 24-hour), its full form "7.12.2026 klo 5.07.12 UTC".
        started = job.locator(".job-started")
        expect(started).to_have_text(re.compile(r"^Alkoi \d{1,2}\.\d{2}\.\d{2}$"))
        full = started.get_attribute("title") or ""
        assert re.match(r"^\d{1,2}\.\d{1,2}\.\d{4} klo \d{1,2}\.\d{2}\.\d{2} UTC$", full), full
        # A number the Finnish way: a space (no-break) before the per cent sign.
        expect(job.locator(".progress-text")).to_have_text(re.compile(r"^\d+\u00a0%$"))
        expect(job.locator(".progress")).to_have_attribute("aria-label", f"Työn {job_id[:8]} edistyminen")

        text = _text(page)
        for key in ALWAYS_SHOWN + ON_A_RUNNING_JOB:
            english, finnish = translate("en", key), translate("fi", key)
            assert finnish in text, f"{key}: {finnish!r} is not on the page"
            assert not re.search(rf"\b{re.escape(english)}\b", text), f"{key}: {english!r} (English) is on the page"

        # The confirmation speaks Finnish too, and Escape (the safe choice) leaves the job running.
        job.get_by_role("button", name="Keskeytä").click()
        dialog = page.get_by_role("dialog", name="Keskeytetäänkö tämä työ?")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name="Peruuta")).to_be_focused()
        expect(dialog.get_by_role("button", name="Keskeytä työ")).to_be_visible()
        expect(dialog.get_by_label("Syy (valinnainen)")).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert server.job(job_id)["status"] in ("running", "queued")
    finally:
        board.close()
        server.settle()
    assert not board.errors, board.errors


def test_the_language_switcher_is_remembered_and_beats_the_browser(browser: Browser, server: UiServer) -> None:
    board = Dashboard(browser, server, locale="en-GB")
    try:
        page = board.open().page
        expect(page.locator("html")).to_have_attribute("lang", "en")
        switcher = page.get_by_role("combobox", name="Language")
        expect(switcher).to_have_value("en")
        # Keyboard only: Tab to the switcher, the next language with the arrow key.
        _tab_to(page, "language")
        page.keyboard.press("ArrowDown")
        expect(page.locator("html")).to_have_attribute("lang", "fi")
        expect(page.get_by_role("heading", level=1)).to_have_text("Koontinäyttö")
        expect(page.get_by_role("combobox", name="Kieli")).to_have_value("fi")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

        # Remembered: across a reload, and on another page, although the browser still asks for English.
        page.reload()
        expect(page.locator("html")).to_have_attribute("lang", "fi")
        expect(page.get_by_role("button", name="Käynnistä").first).to_be_visible()
        page.goto(f"{server.url}/jobs")
        expect(page.locator("html")).to_have_attribute("lang", "fi")
        nav = page.get_by_role("navigation", name="Näkymät")
        expect(nav.locator('[aria-current="page"]')).to_have_text("Kaikki työt")
        expect(page.get_by_role("button", name="Kirjaudu ulos")).to_be_visible()

        # And back to English the same way, from the other page.
        _tab_to(page, "language")
        page.keyboard.press("ArrowUp")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.goto(server.url)
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    finally:
        board.close()
    assert not board.errors, board.errors


def test_a_finnish_browser_can_choose_english(browser: Browser, server: UiServer) -> None:
    board = Dashboard(browser, server, locale="fi-FI")
    try:
        page = board.open().page
        expect(page.locator("html")).to_have_attribute("lang", "fi")
        page.get_by_role("combobox", name="Kieli").select_option("en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
        expect(page.locator("#connection")).to_have_text("Live")
    finally:
        board.close()
    assert not board.errors, board.errors


@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 390), ("dark", 390)])
def test_the_finnish_dashboard_is_accessible_and_fits_a_phone(browser: Browser, server: UiServer, scheme: str,
                                                             width: int) -> None:
    # A failed run (the card's failure line and run chart) and a running job (its card, messages and buttons):
    # the longest Finnish words the page has.
    failed = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
    _finished(server, failed)
    board = Dashboard(browser, server, width=width, scheme=scheme, locale="fi-FI")  # type: ignore[arg-type]
    try:
        page = board.open().page
        expect(page.locator("html")).to_have_attribute("lang", "fi")
        server.start_job("ArgumentCondensation", {"questions": 30})
        job = board.active_job("ArgumentCondensation")
        expect(job.locator(".panel-info li").first).to_be_visible()
        expect(board.card("DataImport").locator(".last-failure")).to_contain_text("Viimeisin ajo epäonnistui")
        expect(board.card("DataImport").locator(".run-summary")).to_contain_text("Keston mediaani")
        assert serious(page) == []
        if width == 390:
            assert page.evaluate(NO_OVERFLOW), page.evaluate("document.documentElement.scrollWidth")
            # The parts most likely to be too wide: each inside the viewport.
            for selector in ("header.topbar", ".page-head", ".stats", "#past-filter", ".active-job .job-facts"):
                box = page.locator(selector).first.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, selector
    finally:
        board.close()
        server.settle()
    assert not board.errors, board.errors
