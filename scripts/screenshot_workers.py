"""Regenerate docs/workers.png: the Workers page of ``jobdeck serve --demo`` (its own process is the one worker, busy
with two jobs), at 1280 px in headless Chromium (Debian's /usr/bin/chromium; nothing is downloaded).

    python scripts/screenshot_workers.py [--out docs/workers.png]
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import API, ARGS, CHROMIUM, free_port, wait_until


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "workers.png")
    args = parser.parse_args()
    port, token = free_port(), secrets.token_urlsafe(16)
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "jobdeck.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port),
         "--token", token, "--store", "memory://", "--demo-speed", "0.5", "--no-demo-jobs", "--no-demo-schedule"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = httpx.Client(base_url=url + API, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, 30, "the server to answer /healthz")
        for job_type, params in (("ArgumentCondensation", {"questions": 50}), ("QuestionInfoGeneration",
                                                                              {"questions": 40})):
            api.post("/start", json={"jobType": job_type, "author": "maria@example.org",
                                     "params": params}).raise_for_status()
        wait_until(lambda: any(len(w["jobs"]) == 2 for w in api.get("/workers").json()["workers"]), 30,
                   "the worker to show its jobs")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 620}, color_scheme="light",
                                    locale="en-GB", timezone_id="Europe/Helsinki")
            page.goto(f"{url}/?token={token}")
            page.goto(f"{url}/workers")
            expect(page.locator("#workers-table .worker-state").first).to_have_text("busy", timeout=15_000)
            page.mouse.move(0, 0)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        api.close()
        server.terminate()
        server.wait(timeout=15)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
