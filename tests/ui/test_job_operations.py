"""A running job's page in a real Chromium: its operation tree, each operation's progress in a labelled bar and in
words, following the job live; and no serious accessibility violation while it does."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.ui.conftest import Dashboard, serious

pytestmark = pytest.mark.browser


def test_running_job_page_by_short_id_shows_the_operation_tree_live(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("ArgumentCondensation", {"questions": 20})["id"]
    # Arrange: the job has moved past loading, so that the tree has a finished operation and a current one.
    wait_for(lambda: (op := server.job(job_id)["currentOperation"]) and op["index"] >= 2, timeout=20,
             what="the job to finish loading")
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs/{job_id[:8]}")
    expect(page).to_have_url(f"{server.url}/jobs/{job_id}")
    tree = page.locator("#op-tree")
    top = tree.locator(":scope > li")
    # 1 loading + 40 question parts + saving: all of them, within the bounds of a published tree.
    expect(top).to_have_count(42)
    loading = page.get_by_role("progressbar", name=re.compile(r"^data-loading"))
    expect(loading).to_have_attribute("aria-valuenow", "100")
    first = top.nth(1)
    expect(first.locator(".op-name").first).to_have_text("question-q1-pros (weight 4)")
    expect(top.first.locator(".op-state")).to_have_text("Done")
    expect(top.first.locator(".op-pct")).to_have_text("100%")

    # The current part is the one in progress, and shows its own steps.
    current = tree.locator(":scope > li.op-started")
    expect(current).to_have_count(1)
    expect(current.locator("ul .op-name")).to_have_text(["retrieval", "condensation (weight 3)"])
    # The page follows the job without a reload: a part that had not started when it opened gets done.
    later = top.nth(30)
    expect(later.locator(".op-name").first).to_have_text("question-q15-cons (weight 4)")
    state = later.locator(":scope > .op-row .op-state")
    expect(state).to_have_text("Not started")
    bar = later.locator(":scope > .op-row [role=progressbar]")
    expect(bar).to_have_accessible_name("question-q15-cons (weight 4)")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(state).to_have_text("Done", timeout=30_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(later.locator(":scope > .op-row .op-pct")).to_have_text("100%")
    # Every row says in words what its bar shows (read in one go: the tree may be redrawn between two reads).
    rows = page.locator("#op-tree .op-row").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.op-pct').textContent, "
        "r.querySelector('[role=progressbar]').getAttribute('aria-valuenow') + '%'])")
    assert len(rows) > 42
    assert [text for text, value in rows if text != value] == []
    assert not dashboard.errors

    # No serious or critical axe violation with the tree on the page.
    assert serious(page) == []


def test_finished_job_page_keeps_the_tree_where_it_stopped(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("ArgumentCondensation", {"questions": 20})["id"]
    wait_for(lambda: (op := server.job(job_id)["currentOperation"]) and op["index"] >= 3, timeout=20,
             what="the job to reach its second question part")
    server.api("POST", f"/single/{job_id}/abort", json={"reason": "tree test"})
    wait_for(lambda: server.job(job_id)["status"] == "aborted", timeout=20, what="the job to end aborted")
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("Aborted")
    expect(page.locator("#op-current")).to_have_text(re.compile(r"^Last operation: question-q"))
    top = page.locator("#op-tree > li")
    expect(top).to_have_count(42)
    expect(top.first.locator(".op-state")).to_have_text("Done")
    # The part that was under way says it stopped; nothing is "in progress" on a finished job's page.
    expect(page.locator("#op-tree > li.op-started .op-state").first).to_have_text("Stopped")
    # (exact: the facts end with "Aborted by admin", which runs into the "Progress" heading after it)
    expect(page.get_by_text("In progress", exact=True)).to_have_count(0)
    expect(top.last.locator(":scope > .op-row .op-state")).to_have_text("Not started")
    expect(top.last.locator(":scope > .op-row .op-pct")).to_have_text("0%")


def test_a_long_pipeline_shows_a_window_and_counts_the_rest(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("ArgumentCondensation", {"questions": 50})["id"]  # 102 top-level operations
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs/{job_id}")
    top = page.locator("#op-tree > li")
    expect(page.locator("#op-tree > li.op")).to_have_count(50)
    more = page.locator("#op-tree > li.op-more")
    expect(more.last).to_have_text(re.compile(r"^\+\d+ more operations \(0 done\)$"))
    # Every operation is shown or counted (read in one go: the window moves on with the current operation).
    counts = top.evaluate_all("items => items.map(li => li.classList.contains('op-more') "
                              "? Number(li.textContent.match(/^\\+(\\d+)/)[1]) : 1)")
    assert sum(counts) == 102
    assert serious(page) == []
