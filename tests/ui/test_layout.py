"""Readable everywhere: phone width, dark colour scheme, structure that assistive technology can follow."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import wait_for
from tests.ui.conftest import NO_OVERFLOW, Dashboard
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser: Browser, server: UiServer) -> Dashboard:
    return Dashboard(browser, server, width=390)


def test_phone_width_has_no_horizontal_scrolling(phone: Dashboard) -> None:
    try:
        board = phone.open()
        board.server.start_job("ArgumentCondensation", {"questions": 30})
        job = board.active_job("ArgumentCondensation")
        expect(job.locator(".panel-info li").first).to_be_visible()
        assert board.page.evaluate(NO_OVERFLOW)
        # The cards stack in one column.
        first, second = (board.card(t).bounding_box() for t in ("ArgumentCondensation", "QuestionInfoGeneration"))
        assert first is not None and second is not None
        assert second["y"] >= first["y"] + first["height"]
        assert abs(first["x"] - second["x"]) < 1

        board.page.goto(board.server.url)  # the login page too
        board.context.clear_cookies()
        board.page.reload()
        expect(board.page.get_by_label("Access token")).to_be_visible()
        assert board.page.evaluate(NO_OVERFLOW)
    finally:
        phone.close()
        phone.server.settle()
    assert not phone.errors


def test_dark_colour_scheme(browser: Browser, server: UiServer) -> None:
    light = Dashboard(browser, server, scheme="light")
    dark = Dashboard(browser, server, scheme="dark")
    try:
        background = "getComputedStyle(document.body).backgroundColor"
        light_bg = light.open().page.evaluate(background)
        dark_bg = dark.open().page.evaluate(background)
        assert light_bg != dark_bg

        def brightness(css: str) -> float:
            red, green, blue = (int(part) for part in css[css.index("(") + 1:css.index(")")].split(",")[:3])
            return (red + green + blue) / 3

        assert brightness(dark_bg) < 60 < 200 < brightness(light_bg)
    finally:
        light.close()
        dark.close()


def test_page_structure_for_assistive_technology(dashboard: Dashboard) -> None:
    page = dashboard.open().page
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("region", name="System health")).to_be_visible()
    expect(page.get_by_role("heading", level=3, name="Argument condensation")).to_be_visible()
    # The connection state is announced politely when it changes.
    expect(page.locator("#connection")).to_have_attribute("aria-live", "polite")
    # Status is text, not colour alone.
    dashboard.server.start_job("Cleanup", {"days": 5})
    badge = dashboard.active_job("Cleanup").locator(".badge")
    expect(badge).to_have_text("Running")
    expect(dashboard.active_job("Cleanup").get_by_role("progressbar", name="Progress of job")).to_have_count(1)
    # Every form control has a label.
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, textarea, select')]
        .filter(el => el.type !== 'hidden' && !el.closest('dialog:not([open])') && el.labels.length === 0
                && !el.getAttribute('aria-label')).map(el => el.outerHTML)""")
    assert unlabeled == []


def test_all_jobs_and_a_job_page_fit_a_phone(phone: Dashboard) -> None:
    server = phone.server
    try:
        failed = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
        wait_for(lambda: server.job(failed)["status"] == "failed", timeout=30, what="the import to fail")
        page = phone.open().page
        page.goto(f"{server.url}/jobs")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        row = page.locator(f'tr[data-job-id="{failed}"]')
        error = row.locator(".col-detail")
        expect(error).to_contain_text("malformed date")
        assert page.evaluate(NO_OVERFLOW)
        # A row is a card: the error is on screen, under the row's first line, not in a column off to the side.
        box, first = error.bounding_box(), row.locator(".col-type").bounding_box()
        assert box is not None and first is not None
        assert box["x"] + box["width"] <= 390 and box["y"] > first["y"]
        # The sort stays reachable on a phone.
        expect(page.get_by_role("button", name=re.compile("^Started"))).to_be_visible()
        page.goto(f"{server.url}/jobs/{failed}")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        assert page.evaluate(NO_OVERFLOW)
        page.goto(f"{server.url}/timeline")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        assert page.evaluate(NO_OVERFLOW)
    finally:
        phone.close()
    assert not phone.errors
