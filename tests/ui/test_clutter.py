"""Less clutter, aligned forms: parameter labels from the schema's title (not title-cased names), inputs on one
line and as wide as they need, message lists collapsed on active cards, one Re-run per row on hover or focus."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def test_parameter_fields_are_aligned_and_sized_to_their_content(dashboard: Dashboard) -> None:
    card = dashboard.open().card("DataImport")
    rows, fail_at = card.get_by_label("Rows", exact=True), card.get_by_label("Fail at", exact=True)
    expect(fail_at).to_be_visible()          # "fail_at" as a sentence, not the generated "Fail At"
    expect(card.get_by_label("Fail At", exact=True)).to_have_count(0)
    first, second = rows.bounding_box(), fail_at.bounding_box()
    assert first is not None and second is not None
    assert abs(first["y"] - second["y"]) < 1, (first, second)   # one line
    assert first["width"] < 200                                   # as wide as 1000000 needs, not the row


def test_active_messages_are_collapsed_and_expand_by_keyboard(dashboard: Dashboard) -> None:
    board = dashboard.open()
    board.server.start_job("ArgumentCondensation", {"questions": 30})
    job = board.active_job("ArgumentCondensation")
    expect(job.locator(".panel-info li").first).to_be_visible()
    scroll = job.locator(".panel-info .msg-scroll")
    height = "el => parseFloat(getComputedStyle(el).maxHeight)"
    collapsed = scroll.evaluate(height)
    toggle = job.get_by_role("button", name="Taller message lists")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    board.page.keyboard.press("Enter")
    expect(job.get_by_role("button", name="Shorter message lists")).to_have_attribute("aria-expanded", "true")
    assert scroll.evaluate(height) > collapsed * 1.5


def test_one_rerun_per_row_shows_on_hover_or_focus(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("Cleanup", {"days": 21})["id"]
    wait_for(lambda: server.job(job_id)["status"] == "completed", timeout=30, what="the cleanup")
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.mouse.move(0, 0)
    button = page.get_by_role("button", name=f"Re-run job {job_id[:8]}")
    opacity = "el => getComputedStyle(el).opacity"
    assert button.evaluate(opacity) == "0"
    button.focus()                     # a keyboard user reaching it sees it
    assert button.evaluate(opacity) == "1"
