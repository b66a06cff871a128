"""The Timeline, Workers, Schedules and Failures pages for a browser asking for Finnish (issue 25, item 11): their
headings, buttons and form labels in Finnish, times and numbers as Finnish writes them ("05.13.20", "1,2 s"),
the new-schedule form used with the keyboard alone, axe clean in both schemes at both widths, and no sideways
scrolling on a phone; and what jobs spent, as Finnish writes money and counts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import wait_for
from tests.ui.conftest import NO_OVERFLOW, Dashboard, serious
from tests.ui.server import UiServer

pytestmark = pytest.mark.browser

# Finnish writes a time of day with dots (05.13.20) and a date as day.month.year with "klo" before the time.
FI_CLOCK = r"\d{2}\.\d{2}\.\d{2}"
FI_DATE_TIME = rf"\d{{1,2}}\.\d{{1,2}}\.\d{{4}} klo {FI_CLOCK}"


def _failed_import(server: UiServer) -> str:
    job_id: str = server.start_job("DataImport", {"rows": 10, "fail_at": 0.1})["id"]
    status = wait_for(lambda: server.job(job_id)["status"] in ("completed", "failed", "aborted")
                      and server.job(job_id)["status"], timeout=30, what=f"job {job_id} to end")
    assert status == "failed"
    return job_id


def _open(page: Page, server: UiServer, path: str) -> None:
    page.goto(f"{server.url}/{path}")
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    if path != "workers":   # the Workers page polls and has no "ready" mark; its summary says when it has read
        expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_timeline_in_finnish(finnish: Dashboard) -> None:
    server = finnish.server
    failed = _failed_import(server)
    page = finnish.open().page
    page.get_by_role("navigation", name="Näkymät").get_by_role("link", name="Aikajana").click()
    expect(page).to_have_url(re.compile(r"/timeline$"))
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page).to_have_title("jobdeck · aikajana")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aikajana")
    when = page.get_by_label("Aikaväli", exact=True)
    expect(when.locator("option:checked")).to_have_text("Viimeiset 24 tuntia")
    expect(page.locator("#summary")).to_contain_text("viimeisen 24 tunnin aikana, vanhin vasemmalla")
    expect(page.locator(".timeline-legend")).to_contain_text("käynnissä tai jonossa")
    # The run's name: its status in Finnish, its start as a Finnish date and time, its length with a decimal comma.
    run = page.get_by_role("link", name=re.compile(
        rf"^Työ {failed[:8]}: Epäonnistui, alkoi {FI_DATE_TIME} UTC, kesti (\d,\d|\d+) s$"))
    expect(run).to_be_visible()

    # Keyboard: the range changes from the keyboard and stays in the address; a run opens with Enter.
    when.focus()
    page.keyboard.press("ArrowUp")
    expect(page).to_have_url(re.compile(r"/timeline\?range=1h$"))
    expect(page.locator("#summary")).to_contain_text("viimeisen tunnin aikana")
    run.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/jobs/{failed}")


def test_workers_in_finnish(finnish: Dashboard) -> None:
    server = finnish.server
    page = finnish.open().page
    job = server.start_job("ArgumentCondensation", {"questions": 30})
    page.get_by_role("navigation", name="Näkymät").get_by_role("link", name="Suorittajat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Suorittajat")
    expect(page.get_by_role("heading", name="Jonot", level=2)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Viimeisin syke")).to_be_visible()
    expect(page.locator("#workers-summary")).to_contain_text("1 suorittaja toiminnassa (1 työssä)")
    row = page.locator("#workers-table tbody tr").first
    expect(row.locator(".worker-state")).to_have_text("työssä")
    # The heartbeat's age as Finnish writes it: a decimal comma under ten seconds ("1,2 s sitten").
    expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^(\d,\d|\d+) s sitten$"))
    link = row.get_by_role("link", name=f"Työ {job['id'][:8]}")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/jobs/{job['id']}$"))


def test_failures_in_finnish(finnish: Dashboard) -> None:
    server = finnish.server
    failed = _failed_import(server)
    signature = server.job(failed)["signature"]
    page = finnish.open().page
    page.get_by_role("navigation", name="Näkymät").get_by_role("link", name="Virheet").click()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_role("heading", level=1)).to_have_text("Virheet")
    expect(page.get_by_label("Epäonnistuneet ajalta")).to_be_visible()
    expect(page.get_by_label("Tyyppi", exact=True).locator("option").first).to_have_text("Kaikki tyypit")
    expect(page.locator("#summary")).to_contain_text(re.compile(r"epäonnistunut(ta työtä| työ) .*uusin ensin"))
    group = page.locator(f'li.failure-group[data-signature="{signature}"]')
    expect(group.get_by_role("button", name=re.compile(r"^Aja (tämä työ|nämä \d+ työtä) uudelleen$"))).to_be_visible()
    expect(group.locator("time").first).to_have_text(re.compile(rf"^({FI_CLOCK}|{FI_DATE_TIME})$"))
    expect(group).to_contain_text("ensimmäinen")

    # Keyboard: narrow to the last hour with the Show button ("Näytä"), then follow the group's link.
    since = page.get_by_label("Epäonnistuneet ajalta")
    since.focus()
    page.keyboard.press("ArrowDown")
    expect(since).to_have_value("3600")
    page.get_by_role("button", name="Näytä", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/failures\?since=3600$"))
    show = group.get_by_role("link", name=re.compile(r"^Näytä (tämä työ|nämä \d+ työtä)$"))
    show.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/jobs\?status=failed&signature="))


def test_a_schedule_is_made_paused_and_deleted_in_finnish_by_keyboard(finnish: Dashboard) -> None:
    server = finnish.server
    name = "ui-fi-siivous"
    page = finnish.open().page
    try:
        page.get_by_role("navigation", name="Näkymät").get_by_role("link", name="Ajastukset").click()
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ajastukset")
        expect(page.get_by_role("heading", name="Uusi ajastus")).to_be_visible()
        for label in ("Nimi", "Työn tyyppi", "Väli", "Yksikkö", "Aikavyöhyke", "Kun edellinen on yhä käynnissä"):
            expect(page.get_by_label(label, exact=True)).to_be_visible()
        expect(page.get_by_role("group", name="Ajetaan")).to_contain_text("Cron-lausekkeen mukaan")

        # The form by keyboard alone: type, Tab, arrow keys in the lists, Enter to create.
        page.get_by_label("Nimi", exact=True).focus()
        page.keyboard.type(name)
        page.keyboard.press("Tab")
        kind = page.get_by_label("Työn tyyppi", exact=True)
        expect(kind).to_be_focused()
        for _ in range(20):   # arrow down the list until it stands on Cleanup
            if kind.input_value() == "Cleanup":
                break
            page.keyboard.press("ArrowDown")
        expect(kind).to_have_value("Cleanup")
        every = page.get_by_label("Väli", exact=True)
        every.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("7")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Yksikkö")).to_be_focused()
        expect(page.get_by_label("Yksikkö").locator("option:checked")).to_have_text("minuuttia")
        zone = page.get_by_label("Aikavyöhyke", exact=True)
        zone.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("UTC")
        page.keyboard.press("Enter")
        expect(page.locator("#sched-note")).to_have_text(re.compile(
            rf"^Ajastus {name} luotu: ensimmäinen ajo {FI_CLOCK} \(([1-7] min|\d+ s) päästä\)\.$"))
        mine = page.locator(f'tr[data-schedule-id="{name}"]')
        expect(mine.locator(".col-runs")).to_contain_text("7 min välein")
        expect(mine.locator(".sched-next")).to_have_text(re.compile(rf"^{FI_CLOCK}$"))
        expect(mine.locator(".col-last")).to_contain_text("Ei vielä ajettu")
        expect(mine.locator(".col-state")).to_have_text("Käytössä")

        pause = mine.get_by_role("button", name=f"Tauota ajastus {name}")
        pause.focus()
        page.keyboard.press("Enter")
        expect(mine.locator(".col-next")).to_have_text("Tauolla")
        expect(mine.locator(".action-note")).to_have_text("Tauolla: ei ajoja ennen kuin sitä jatketaan.")
        expect(mine.get_by_role("button", name=f"Jatka ajastusta {name}")).to_be_focused()

        mine.get_by_role("button", name=f"Poista ajastus {name}").focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Poistetaanko ajastus?")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(f"Ajastus {name} (")
        expect(dialog.get_by_role("button", name="Peruuta")).to_be_focused()
        page.keyboard.press("Tab")
        expect(dialog.get_by_role("button", name="Poista ajastus")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#summary")).to_contain_text(f"Ajastus {name} poistettu.")
        expect(mine).to_have_count(0)
    finally:
        server.api("DELETE", f"/schedules/{name}")


PAGES = ("timeline", "workers", "schedules", "failures")


@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 390), ("dark", 390)])
def test_finnish_pages_are_axe_clean_and_fit_a_phone(browser: Browser, server: UiServer, scheme: str,
                                                     width: int) -> None:
    _failed_import(server)
    board = Dashboard(browser, server, width=width, scheme=scheme, locale="fi-FI")  # type: ignore[arg-type]
    try:
        page = board.open().page
        problems: dict[str, list[str]] = {}
        wide: list[str] = []
        for path in PAGES:
            _open(page, server, path)
            if path == "workers":
                expect(page.locator("#workers-summary")).to_contain_text("toiminnassa")
            problems[path] = serious(page)
            if not page.evaluate(NO_OVERFLOW):
                wide.append(path)
        assert {path: found for path, found in problems.items() if found} == {}
        assert wide == [], f"sideways scrolling at {width} px"
    finally:
        board.close()
        server.settle()
    assert not board.errors, f"JavaScript errors on the page: {board.errors}"


def test_spend_in_finnish(finnish: Dashboard) -> None:
    """What a job spent, as Finnish writes money and counts: "0,10 $", "28 800 tokenia" (spend.js)."""
    server = finnish.server
    job_id = server.start_job("QuestionInfoGeneration", {"questions": 1})["id"]   # 2 parts: $0.102
    wait_for(lambda: server.job(job_id)["status"] == "completed", timeout=30, what="the job to complete")
    page = finnish.open().page
    page.goto(f"{server.url}/jobs/{job_id}")
    generation = page.locator("#op-tree > li").nth(1)
    expect(generation.locator(":scope > .op-row .op-cost")).to_have_text(re.compile(r"^0,10\s\$ · 28\s800 tokenia$"))
    expect(page.locator("#facts")).to_contain_text(re.compile(r"0,10\s\$ · 24\s800 syöte- \+ 4\s000 vastaustokenia"))
    page.goto(f"{server.url}/jobs?type=QuestionInfoGeneration")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator(f'tr[data-job-id="{job_id}"] .col-cost')).to_have_text(re.compile(r"^0,10\s\$$"))
    expect(page.locator("#cost-total")).to_have_text(re.compile(
        r"^Suodatinta (vastaavan|vastaavien) \d+ työn kulut yhteensä: \d+,\d\d\s\$ "
        r"\(\d+ (kirjattu käyttö|kirjattua käyttöä)\)\.$"))
