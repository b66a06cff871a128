"""Signing in: the standalone login page, and the in-page prompt when the token stops working."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser


def test_login_page_without_a_token_then_wrong_then_right(dashboard: Dashboard) -> None:
    page = dashboard.page
    response = page.goto(dashboard.server.url)
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading", name="jobdeck")).to_be_visible()
    token = page.get_by_label("Access token")
    expect(token).to_be_focused()
    # The page works on its own: nothing but the document itself was loaded.
    assert page.evaluate("performance.getEntriesByType('resource').length") == 0

    token.fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token was not accepted. Check it and try again.")
    expect(page.locator("#stat-active")).to_have_count(0)

    token.fill(dashboard.server.token)
    token.press("Enter")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("heading", name="System health")).to_be_visible()


def test_wrong_token_in_the_address_bar_shows_the_login_error(dashboard: Dashboard) -> None:
    page = dashboard.page
    page.goto(f"{dashboard.server.url}/?token=wrong")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Access token")).to_be_visible()


def test_expired_session_shows_a_login_prompt_and_resumes(dashboard: Dashboard) -> None:
    board = dashboard.open()
    # The cookie goes away (token rotated, session expired): the next request is refused.
    board.context.clear_cookies()
    # The next request is refused, whichever comes first: this Start, or one the page makes on its own (a card
    # loading its newest failed job, say), which may open the prompt before the click lands. A dispatched click is
    # not held back by the open dialog, so the test takes the same path whichever request wins.
    board.card("Cleanup").get_by_role("button", name="Start").dispatch_event("click")
    prompt = board.page.get_by_role("dialog", name="Sign in required")
    expect(prompt).to_be_visible()
    expect(board.page.locator("#connection")).to_have_text("Signed out")
    token = prompt.get_by_label("Access token")
    expect(token).to_be_focused()
    # Escape does not dismiss it into a page that cannot load anything.
    board.page.keyboard.press("Escape")
    expect(prompt).to_be_visible()

    token.fill("still-wrong")
    prompt.get_by_role("button", name="Sign in").click()
    expect(prompt.get_by_role("alert")).to_have_text("That token was not accepted. Check it and try again.")

    token.fill(board.server.token)
    prompt.get_by_role("button", name="Sign in").click()
    expect(prompt).to_be_hidden()
    expect(board.page.locator("#connection")).to_have_attribute("data-state", "live")
    # The page carries on where it was, signed in again: starting a job works.
    board.card("Cleanup").get_by_role("button", name="Start").click()
    expect(board.active_job("Cleanup")).to_have_count(1)
