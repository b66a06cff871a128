"""All jobs and a job's page in the admin's own language: a browser asking for Finnish gets both pages in Finnish
(headings, column headers, filters, buttons, the Re-run dialog, times written the Finnish way), usable by keyboard,
axe clean in both colour schemes at desktop and phone width, with no sideways scrolling on a phone."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import wait_for
from tests.ui.conftest import NO_OVERFLOW, Dashboard, serious
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser

# "7.12.2026 klo 05.13.00 UTC": day.month.year, "klo", the clock with dots (the browser runs in UTC).
FINNISH_TIME = r"\d{1,2}\.\d{1,2}\.\d{4} klo \d\d\.\d\d\.\d\d UTC"


def _ended(server: UiServer, job_id: str) -> None:
    wait_for(lambda: server.job(job_id)["status"] not in ("queued", "running", "aborting"), timeout=30,
             what=f"job {job_id} to end")


@pytest.fixture(scope="module")
def failed_job(server: UiServer) -> str:
    """A DataImport that failed on a malformed date in its operation "importing"."""
    job_id = str(server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"])
    _ended(server, job_id)
    assert server.job(job_id)["status"] == "failed"
    return job_id


def _open(board: Dashboard, path: str) -> Page:
    page = board.page
    page.goto(f"{board.server.url}/?token={board.server.token}")   # signs in (a cookie), then the page itself
    page.goto(f"{board.server.url}{path}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def test_all_jobs_in_finnish_filtered_and_sorted_by_keyboard(finnish: Dashboard, failed_job: str) -> None:
    page = _open(finnish, "/jobs")
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    expect(page).to_have_title("jobdeck · kaikki työt")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kaikki työt")
    # The column headers: the sortable ones are buttons, the default order (by end, newest first) is shown.
    for name in ("Tyyppi", "Tila", "Alkoi", "Päättyi", "Kesto"):
        expect(page.get_by_role("button", name=re.compile(f"^{name}"))).to_be_visible()
    expect(page.get_by_role("columnheader", name="Käynnistäjä")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Edistyminen tai virhe")).to_be_visible()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Päättyi")
    expect(page.locator("#summary")).to_contain_text("järjestys: päättymisaika, uusin ensin")
    expect(page.locator("#summary")).to_contain_text("Ajat: UTC.")

    # The failed job's row: its status in Finnish, its start time relative in words, absolute the Finnish way.
    row = page.locator(f'tr[data-job-id="{failed_job}"]')
    expect(row.locator(".badge")).to_have_text("Epäonnistui")
    started = row.locator(".col-started time")
    expect(started).to_have_attribute("title", re.compile(f"^{FINNISH_TIME}$"))
    expect(started.locator("[aria-hidden=true]")).to_have_text(re.compile(r"(sitten|juuri nyt)$"))
    expect(started.locator(".visually-hidden")).to_have_text(re.compile(f"^{FINNISH_TIME}$"))
    expect(row.get_by_role("button", name=f"Aja työ {failed_job[:8]} uudelleen")).to_have_text("Aja uudelleen")

    # The filters by keyboard: their Finnish labels name them; a status and a range chosen with the arrow keys,
    # then Tab to Hae and Enter.
    expect(page.get_by_label("Hae töitä")).to_have_attribute("placeholder", re.compile("käynnistäjä"))
    status = page.get_by_label("Tila", exact=True)
    expect(status.locator("option")).to_have_text(
        ["Mikä tahansa tila", "Jonossa", "Käynnissä", "Keskeytetään", "Valmis", "Epäonnistui", "Keskeytetty"])
    status.focus()
    while status.input_value() != "failed":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    when = page.get_by_label("Milloin")
    expect(when).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(when).to_have_value("1h")
    expect(when.locator("option:checked")).to_have_text("Viimeinen tunti")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Hae", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"status=failed.*range=1h"))
    expect(page.locator("#summary")).to_contain_text("tila: epäonnistui, viimeisen tunnin aikana")
    expect(row).to_be_visible()

    # Sort by start with the keyboard: the header's button, Enter; the order is said in Finnish.
    page.get_by_role("button", name=re.compile("^Alkoi")).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=start&dir=desc"))
    expect(page.locator("#summary")).to_contain_text("järjestys: alkuaika, uusin ensin")
    expect(page.locator('th[data-sort="start"]')).to_have_attribute("aria-sort", "descending")

    # Tyhjennä (Clear) by keyboard brings back the plain view.
    page.get_by_role("button", name="Tyhjennä").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{finnish.server.url}/jobs")
    expect(page.get_by_label("Milloin")).to_have_value("")
    expect(page.get_by_label("Hae töitä")).to_be_focused()


def test_a_failed_job_in_finnish_and_its_rerun_dialog_by_keyboard(finnish: Dashboard, failed_job: str) -> None:
    page = _open(finnish, f"/jobs/{failed_job}")
    short = failed_job[:8]
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(f"· työ {short}$"))
    expect(page).to_have_title(f"jobdeck · työ {short}")
    expect(page.locator("#job-status")).to_have_text("Epäonnistui")
    # The failure first, in Finnish around the job's own (untranslated) error.
    banner = page.get_by_role("region", name="Tämä työ epäonnistui")
    expect(banner).to_contain_text("malformed date '31/02/2026'")
    expect(banner).to_contain_text("Vaiheessa importing")
    expect(banner.get_by_role("button", name="Näytä kaikki viestit")).to_be_visible()
    for name in ("Edistyminen", "Parametrit", "Tulos"):
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Viestit"))).to_be_visible()
    expect(page.locator("li.op-failed .op-state").first).to_have_text("Epäonnistui")
    # The facts: Finnish terms, times written the Finnish way.
    facts = page.locator("#facts")
    expect(facts.locator("dt")).to_contain_text(["Tyyppi", "Tila", "Käynnistäjä", "Alkoi", "Päättyi", "Kesto"])
    started = facts.locator("div", has=page.locator("dt", has_text="Alkoi")).locator("dd")
    expect(started).to_have_text(re.compile(f"^{FINNISH_TIME}$"))
    expect(page.locator("#msg-summary")).to_contain_text("uusin ensin")

    # The message levels by keyboard: Space on "Tiedot" leaves the errors and warnings.
    info = page.get_by_role("checkbox", name="Tiedot")
    info.focus()
    page.keyboard.press("Space")
    expect(info).not_to_be_checked()
    expect(page.locator("#msg-summary")).to_contain_text("viestistä vastaa suodatusta")
    expect(page.locator("#messages .msg-kind").first).to_have_text(re.compile("^(Virhe|Varoitus)$"))

    # Re-run by keyboard: the dialog in Finnish, the focus in its first field, Escape gives the focus back.
    rerun = page.get_by_role("button", name="Aja uudelleen")
    rerun.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Aja työ uudelleen")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"työn {short} parametreilla")
    expect(dialog.get_by_role("button", name="Peruuta")).to_be_visible()
    expect(dialog.locator("input, select, textarea").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(rerun).to_be_focused()
    # Again, and this time start it from the keyboard: the page goes on to the new job.
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Aja uudelleen").focus()
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(re.compile(f"/jobs/{failed_job}$"))
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#facts")).to_contain_text("Uudelleenajo työstä")
    new_id = page.url.rsplit("/", 1)[-1]
    _ended(finnish.server, new_id)


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_pages_in_finnish_are_axe_clean_and_fit_a_phone(
        browser: Browser, server: UiServer, failed_job: str, scheme: Literal["light", "dark"], width: int) -> None:
    board = Dashboard(browser, server, width=width, scheme=scheme, locale="fi-FI")
    try:
        for path in ("/jobs", f"/jobs/{failed_job}"):
            page = _open(board, path)
            expect(page.locator("html")).to_have_attribute("lang", "fi")
            if path == "/jobs":
                expect(page.locator(f'tr[data-job-id="{failed_job}"]')).to_be_visible()
            else:
                expect(page.get_by_role("region", name="Tämä työ epäonnistui")).to_be_visible()
            assert serious(page) == [], (path, scheme, width)
            assert page.evaluate(NO_OVERFLOW), (path, scheme, width, page.evaluate(
                "document.documentElement.scrollWidth"))
    finally:
        board.close()
    assert not board.errors, f"JavaScript errors on the page: {board.errors}"


def test_the_rerun_dialog_reopened_before_its_close_event_stays_open(finnish: Dashboard, failed_job: str) -> None:
    # A dialog's close event comes a task after it closed: Escape, then Enter on the button at once (what the test
    # above does by keyboard, and what failed once in CI) reopens it before that event. Here the two happen in one
    # task, so the stale event always arrives after the reopening: it must not close the new session.
    page = _open(finnish, f"/jobs/{failed_job}")
    page.get_by_role("button", name="Aja uudelleen").click()
    dialog = page.get_by_role("dialog", name="Aja työ uudelleen")
    expect(dialog).to_be_visible()
    page.evaluate("() => { document.getElementById('rerun-dialog').close(); "
                  "document.getElementById('rerun').click(); }")
    page.wait_for_function("() => new Promise((done) => setTimeout(() => done(true), 50))")   # the close event's turn
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Peruuta").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Aja uudelleen")).to_be_focused()
