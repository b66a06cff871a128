"""``schemathesis run --checks all`` against a real server on every store, as the red team ran it (issue 19,
item 11): every operation but ``/events`` (a stream that never ends), all its phases (examples, coverage, fuzzing,
stateful), valid and invalid requests, deterministic generation and a bounded number of examples; and every check:
no 5xx, every answer as the schema describes it (status code, content type, headers, body), and the schema as
strict as the server (a request the schema allows is not refused, one it forbids is).

One allowance, made in a config file and said here: a start, a re-run or a schedule whose ``params`` do not fit the
job type is a 400 naming the parameter. Each type's params have a schema of their own (``GET /types``, ``paramsSchema``)
that one static document for every type cannot carry, so there a 400 is an accepted answer to a request the
document allows; every other check still applies to those operations.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobdeck import JobRunner
from jobdeck.api import create_app
from tests.api.conftest import PREFIX, TOKEN, live_server, register_test_types, store_of

STORES = ["memory", "sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]
CONFIG = """\
[[operations]]
include-path-regex = "/(start|rerun|resume|schedules|schedules/[^/]+)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""


@pytest.fixture(params=STORES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    for store in store_of(request.param, request, tmp_path):
        runner = JobRunner(store, abort_grace=1)
        register_test_types(runner)
        runner.register_external("Remote", max_concurrent=100)
        app = create_app(runner=runner, token=TOKEN)
        try:
            # As `jobdeck serve` runs it: the app reads proxy headers itself.
            with live_server(app, proxy_headers=False) as url:
                yield url
        finally:
            runner.shutdown(grace=2)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_schemathesis_with_every_check_passes(server: str, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [str(Path(sys.executable).with_name("schemathesis")), "--no-color", "--config-file", str(config),
               "run", f"{server}{PREFIX}/openapi.json", "--checks", "all", "--max-examples", "20",
               "--generation-deterministic", "--exclude-path", f"{PREFIX}/events",
               "--header", f"Authorization: Bearer {TOKEN}", "--request-timeout", "30"]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]
    paths = httpx.get(f"{server}{PREFIX}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()["paths"]
    operations = sum(len(ops) for path, ops in paths.items() if not path.endswith("/events"))
    assert operations >= 20 and f"Tested: {operations}" in done.stdout  # every operation but /events was reached
