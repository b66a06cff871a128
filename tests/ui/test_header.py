"""One header on every page: the same name, navigation (the page's own link marked current), live indicator and
sign-out, served from one definition (``api/_pages.py`` NAV)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobdeck.api._pages import NAV
from jobdeck.core.i18n import translate
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def test_every_page_has_the_same_header(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("Cleanup", {"days": 1})["id"]
    page = dashboard.open().page
    labels = [translate("en", key) for _, key in NAV]   # NAV names catalog keys
    pages = [("", "Dashboard"), ("jobs", "All jobs"), ("timeline", "Timeline"), ("workers", "Workers"),
             ("schedules", "Schedules"), ("failures", "Failures"), (f"jobs/{job_id}", None)]
    for path, current in pages:
        page.goto(f"{server.url}/{path}")
        banner = page.get_by_role("banner")
        expect(banner).to_have_count(1)
        expect(banner.get_by_text("jobdeck", exact=True)).to_be_visible()
        nav = banner.get_by_role("navigation", name="Views")
        expect(nav.get_by_role("link")).to_have_text(labels)
        marked = nav.locator('[aria-current="page"]')
        if current is None:
            expect(marked).to_have_count(0)
        else:
            expect(marked).to_have_text(current)
        expect(banner.locator("#connection")).to_have_attribute("data-state", re.compile("live|idle"))
        expect(banner.get_by_role("button", name="Sign out")).to_be_visible()

    # The keyboard reaches the navigation first and follows a link with Enter.
    page.goto(f"{server.url}/jobs")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Dashboard")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # Sign-out works from any page: it lands on the sign-in form.
    page.goto(f"{server.url}/jobs")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Access token")).to_be_visible()


def test_an_empty_list_says_what_to_do(dashboard: Dashboard) -> None:
    page = dashboard.open().page
    page.goto(f"{dashboard.server.url}/jobs?q=no-such-author-anywhere")
    expect(page.locator("#summary")).to_have_text("No jobs matching “no-such-author-anywhere”.")
