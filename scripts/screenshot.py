"""Regenerate docs/dashboard.png (the dashboard with a failed, a completed and a running job), and beside it
docs/all-jobs.png (the All jobs view), docs/job-page.png (a failed job's page), docs/timeline.png (the timeline)
and docs/failures.png (the failures grouped by cause), and docs/dashboard-fi.png (the dashboard as a browser asking
for Finnish gets it).

    python scripts/screenshot.py [--out docs/dashboard.png]

Starts ``jobdeck serve --demo`` on a free loopback port, runs a failing and a short job to their end, starts a
long one, waits until it shows progress, and photographs the pages at 1280 px wide (what fits the window, to keep
the images small) in headless Chromium
(Debian's /usr/bin/chromium; nothing is downloaded). The server is stopped afterwards.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
API = "/api/admin/jobs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"screenshot: timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "dashboard.png")
    args = parser.parse_args()

    port, token = free_port(), secrets.token_urlsafe(16)
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "jobdeck.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port),
         "--token", token, "--store", "memory://", "--demo-speed", "2", "--no-demo-jobs"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = httpx.Client(base_url=url + API, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def start(job_type: str, params: dict[str, object]) -> str:
        response = api.post("/start", json={"jobType": job_type, "author": "maria@example.org", "params": params})
        response.raise_for_status()
        job_id: str = response.json()["id"]
        return job_id

    def status(job_id: str) -> str:
        state: str = api.get(f"/single/{job_id}/progress", params={"messages": "none"}).json()["status"]
        return state

    try:
        wait_until(healthy, 30, "the server to answer /healthz")
        finished = [start("DataImport", {"rows": 200}), start("Cleanup", {"days": 14}),
                    start("QuestionInfoGeneration", {"questions": 2}), start("Cleanup", {"days": 60})]
        for job_id in finished:
            wait_until(lambda job_id=job_id: status(job_id) not in ("running", "aborting"), 60, "a job to end")
        for rows in (40, 60):  # two more imports that break on a malformed row: the Failures page groups the three
            job_id = start("DataImport", {"rows": rows, "fail_at": 0.3})
            wait_until(lambda job_id=job_id: status(job_id) not in ("queued", "running", "aborting"), 60, "an import")
        long_job = start("ArgumentCondensation", {"questions": 6})
        start("QuestionInfoGeneration", {"questions": 12})

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light",
                                    locale="en-GB", timezone_id="Europe/Helsinki")
            page.goto(f"{url}/?token={token}")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
            for job_type in ("DataImport", "Cleanup"):
                page.locator(f'[data-job-type="{job_type}"] details.past > summary').click()
            bar = page.locator(f'[data-job-id="{long_job}"] [role="progressbar"]')
            wait_until(lambda: int(bar.get_attribute("aria-valuenow") or 0) >= 42, 60, "the long job's progress")
            page.wait_for_function("document.querySelectorAll('.panel-problems li').length > 0")
            page.mouse.move(0, 0)
            page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top of the picture
            page.screenshot(path=str(args.out))
            page.set_viewport_size({"width": 1280, "height": 640})
            page.goto(f"{url}/jobs")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.screenshot(path=str(args.out.with_name("all-jobs.png")))
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{url}/jobs/{finished[0][:8]}")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.mouse.move(0, 0)
            page.screenshot(path=str(args.out.with_name("job-page.png")))
            page.set_viewport_size({"width": 1280, "height": 520})
            page.goto(f"{url}/timeline?range=1h")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.mouse.move(0, 0)
            page.screenshot(path=str(args.out.with_name("timeline.png")))
            page.set_viewport_size({"width": 1280, "height": 560})
            page.goto(f"{url}/failures")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.mouse.move(0, 0)
            page.screenshot(path=str(args.out.with_name("failures.png")))
            finnish = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light",
                                       locale="fi-FI", timezone_id="Europe/Helsinki")
            finnish.goto(f"{url}/?token={token}")
            expect(finnish.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
            expect(finnish.locator("html")).to_have_attribute("lang", "fi")
            for job_type in ("DataImport", "Cleanup"):
                finnish.locator(f'[data-job-type="{job_type}"] details.past > summary').click()
            finnish.wait_for_function("document.querySelectorAll('.panel-problems li').length > 0")
            finnish.mouse.move(0, 0)
            finnish.evaluate("window.scrollTo(0, 0)")
            finnish.screenshot(path=str(args.out.with_name("dashboard-fi.png")))
            browser.close()
    finally:
        api.close()
        server.terminate()
        server.wait(timeout=15)
    for shot in (args.out, *(args.out.with_name(name) for name in ("all-jobs.png", "job-page.png", "timeline.png",
                                                                         "failures.png", "dashboard-fi.png"))):
        print(f"wrote {shot} ({shot.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
