"""What jobs spent, in a real Chromium (issue 24): All jobs' sortable cost column with the total of every job the
filter matches, the job page's spending and each operation's share, and a budget stop told apart from an admin's
abort; no serious accessibility violation on either page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import Dashboard, serious
from tests.ui.test_triage import finished

pytestmark = pytest.mark.browser


def test_cost_column_sorts_and_totals(dashboard: Dashboard) -> None:
    server = dashboard.server
    cheap = server.start_job("QuestionInfoGeneration", {"questions": 1})["id"]   # 2 parts: $0.102
    finished(server, cheap)
    dear = server.start_job("QuestionInfoGeneration", {"questions": 2})["id"]    # 4 parts: $0.204
    finished(server, dear)
    free = server.start_job("Cleanup", {"days": 3})["id"]                       # records nothing
    finished(server, free)
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    row = page.locator(f'tr[data-job-id="{cheap}"]')
    expect(row.locator(".col-cost")).to_have_text("$0.10")
    expect(page.locator(f'tr[data-job-id="{dear}"] .col-cost')).to_have_text("$0.20")
    expect(page.locator(f'tr[data-job-id="{free}"] .col-cost')).to_have_text("\u2013")  # an en dash: nothing recorded
    every = server.api("GET", "/spend/total").json()   # what the store adds up: every job, not the rows shown
    expect(page.locator("#cost-total")).to_have_text(
        f"Total cost of all {every['jobs']} jobs: ${every['cost']:.2f} ({every['withUsage']} recorded use).")
    header = page.get_by_role("columnheader", name="Cost")
    expect(header).to_have_attribute("aria-sort", "none")
    page.get_by_role("button", name="Cost").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    costs = page.locator("#jobs-table tbody .col-cost").evaluate_all("cells => cells.map(c => Number(c.dataset.cost))")
    assert costs == sorted(costs, reverse=True) and costs[0] >= 0.204
    page.get_by_role("button", name="Cost").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    costs = page.locator("#jobs-table tbody .col-cost").evaluate_all("cells => cells.map(c => Number(c.dataset.cost))")
    assert costs == sorted(costs)
    assert serious(page) == []


def test_job_page_shows_the_operation_shares(dashboard: Dashboard) -> None:
    server = dashboard.server
    job_id = server.start_job("QuestionInfoGeneration", {"questions": 1})["id"]
    finished(server, job_id)
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs/{job_id}")
    expect(page.locator("#facts")).to_contain_text("Spent$0.10 · 24,800 input + 4,000 output tokens · requests 2")
    generation = page.locator("#op-tree > li").nth(1)
    expect(generation.locator(":scope > .op-row .op-cost")).to_have_text("$0.10 · 28,800 tokens")
    expect(generation.locator("ul .op-cost")).to_have_text(["$0.05 · 14,400 tokens", "$0.05 · 14,400 tokens"])
    expect(page.locator("#op-tree > li").first.locator(".op-cost")).to_have_count(0)   # fetching spent nothing
    assert serious(page) == []


def test_a_budget_stop_is_shown_as_such(dashboard: Dashboard) -> None:
    server = dashboard.server
    started = server.api("POST", "/start", json={"jobType": "QuestionInfoGeneration", "params": {"questions": 5},
                                                 "budget": {"cost": 0.12}})
    assert started.status_code == 201, started.text
    job_id = started.json()["id"]
    job = finished(server, job_id)
    assert job["status"] == "aborted" and job["abortedBy"] == "budget"
    reason = "budget exceeded: $0.15 spent of $0.12"
    assert job["abortReason"] == reason
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs")
    expect(page.locator(f'tr[data-job-id="{job_id}"] .col-detail')).to_have_text(f"Budget stop: {reason}")
    page.goto(f"{server.url}/jobs/{job_id}")
    facts = page.locator("#facts")
    expect(facts).to_contain_text("Stopped byits budget (not a person)")
    expect(facts).to_contain_text(f"Abort reason{reason}")
    assert serious(page) == []


def test_type_cards_show_today_and_this_month(dashboard: Dashboard) -> None:
    server = dashboard.server
    finished(server, server.start_job("QuestionInfoGeneration", {"questions": 1})["id"])
    spent = {t["jobType"]: t for t in server.api("GET", "/spend").json()}["QuestionInfoGeneration"]
    assert spent["today"] >= 0.1
    page = dashboard.open().page
    line = dashboard.card("QuestionInfoGeneration").locator(".type-spend")
    expect(line).to_have_text(re.compile(r"^Spent today \$\d+\.\d\d · this month \$\d+\.\d\d$"))
    expect(dashboard.card("Cleanup").locator(".type-spend")).to_have_count(0)   # records nothing
    assert serious(page) == []


def _dollars(cost: float) -> str:
    """A pattern for ``cost`` as the page writes it to the cent. A sum of float costs can land a hair either side
    of a half cent (1.275 is 1.27499... or 1.27500...1 depending on the order of the additions, and the browser
    and Python add in different orders), so at a half cent either neighbour is right."""
    texts = {f"{cost - 1e-9:.2f}", f"{cost + 1e-9:.2f}"}
    return "(" + "|".join(re.escape(f"${text}") for text in sorted(texts)) + ")"


def test_cost_total_covers_the_filter(dashboard: Dashboard) -> None:
    server = dashboard.server
    for questions in (1, 2):
        finished(server, server.start_job("QuestionInfoGeneration", {"questions": questions})["id"])
    finished(server, server.start_job("Cleanup", {"days": 3})["id"])
    page = dashboard.open().page
    page.goto(f"{server.url}/jobs?type=QuestionInfoGeneration")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    total = server.api("GET", "/spend/total", params={"jobType": "QuestionInfoGeneration"}).json()
    assert total["jobs"] >= 2 and total["cost"] >= 0.306
    expect(page.locator("#cost-total")).to_have_text(re.compile(
        f"Total cost of the {total['jobs']} jobs matching the filter: {_dollars(total['cost'])} "
        fr"\({total['withUsage']} recorded use\)\."))
    page.goto(f"{server.url}/jobs?type=QuestionInfoGeneration&range=24h")   # a range: every job in it is loaded
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    rows = page.locator("#jobs-table tbody tr").count()
    costs = page.locator("#jobs-table tbody .col-cost").evaluate_all("cells => cells.map(c => Number(c.dataset.cost))")
    recorded = [c for c in costs if c >= 0]  # a job that recorded no use (another test's, say) has no cost
    expect(page.locator("#cost-total")).to_have_text(re.compile(
        fr"Total cost of the {rows} jobs shown: {_dollars(sum(recorded))} \({len(recorded)} recorded use\)\."))
    page.goto(f"{server.url}/jobs?type=Cleanup")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    cleanups = server.api("GET", "/spend/total", params={"jobType": "Cleanup"}).json()["jobs"]
    expect(page.locator("#cost-total")).to_have_attribute("data-jobs", str(cleanups))   # answered for this filter
    expect(page.locator("#cost-total")).to_have_text("")   # and nothing recorded: no total
    assert serious(page) == []


def test_type_card_plots_cost_per_day(dashboard: Dashboard) -> None:
    server = dashboard.server
    finished(server, server.start_job("QuestionInfoGeneration", {"questions": 1})["id"])
    daily = server.api("GET", "/spend/daily", params={"jobType": "QuestionInfoGeneration"}).json()["days"]
    assert len(daily) == 14 and daily[-1]["cost"] >= 0.1
    page = dashboard.open().page
    card = dashboard.card("QuestionInfoGeneration")
    button = card.get_by_role("button", name="Cost per day", exact=True)   # the caret is not part of its name
    expect(button).to_have_attribute("aria-expanded", "false")
    figure = card.locator("figure.cost-history")
    expect(figure).to_be_hidden()
    button.focus()
    page.keyboard.press("Enter")   # keyboard usable: a real button
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(figure).to_have_attribute("data-loaded", "true")
    bars = figure.locator("rect.cost-bar")
    expect(bars).to_have_count(14)
    assert float(bars.last.get_attribute("data-cost") or "0") == pytest.approx(daily[-1]["cost"], abs=1e-6)
    assert bars.last.get_attribute("data-day") == daily[-1]["day"]
    expect(figure.locator("figcaption")).to_have_text(re.compile(
        r"^Cost per day, last 14 days \(UTC\): \$\d+\.\d\d on 1 day, \d+ jobs? ended; most on "
        + daily[-1]["day"] + r": \$\d+\.\d\d \(\d+ jobs?\)\.$"))
    expect(figure.get_by_role("img")).to_have_accessible_name(re.compile(r"^Cost per day"))
    assert serious(page) == []
    thirty = figure.get_by_role("button", name="30 days")
    thirty.focus()
    page.keyboard.press("Enter")
    expect(thirty).to_have_attribute("aria-pressed", "true")
    expect(figure.get_by_role("button", name="14 days")).to_have_attribute("aria-pressed", "false")
    expect(bars).to_have_count(30)
    expect(figure.locator("figcaption")).to_have_text(re.compile(r"^Cost per day, last 30 days \(UTC\)"))
    assert serious(page) == []
    button.focus()
    page.keyboard.press("Space")
    expect(figure).to_be_hidden()
    expect(dashboard.card("Cleanup").get_by_role("button", name="Cost per day")).to_have_count(0)
