"""A real ``jobdeck serve --demo`` subprocess for the dashboard tests, restartable on the same port.

The server runs exactly as an operator starts it (see ``tests.serve_process``); the browser and the test talk
to it over HTTP. ``stop()`` and ``start()`` again restart it on the same port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import wait_for
from tests.serve_process import ServeProcess, demo_args

TOKEN = "ui-test-token-8c41f2"
# Demo jobs run this many times faster than real time: quick enough for a short suite, slow enough to watch.
DEMO_SPEED = "4"


class UiServer(ServeProcess):
    """``jobdeck serve --demo`` on a fixed loopback port, with the API calls the dashboard tests arrange with."""

    def __init__(self, log_dir: Path, store: str = "memory://", token: str = TOKEN,
                 speed: str = DEMO_SPEED) -> None:
        super().__init__(log_dir, demo_args(store, speed), token=token)
        self.store = store
        self.speed = speed

    # -- the API, for arranging and checking what the page should show

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/single/{job_id}/progress?messages=none")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def active(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.api("GET", "/active?messages=none").json()
        return data

    def start_job(self, job_type: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"jobType": job_type}
        if params is not None:
            body["params"] = params
        response = self.api("POST", "/start", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    def settle(self) -> None:
        """Abort whatever is still active and wait until nothing is, so the next test starts clean."""
        if not self.running or not self.answers():
            return
        if self.active():
            self.api("POST", "/abort-all", json={"reason": "test teardown"})
        wait_for(lambda: not self.active(), timeout=30, what="no active jobs after the test")
