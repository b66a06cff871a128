"""Fixtures for the CLI tests: one real demo server for the session, and a way to run ``jobdeck``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.cli.server import ServerProcess, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("cli-server")) as proc:
        yield proc


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m jobdeck.cli ARGS`` to the end and capture its output."""
    return subprocess.run([sys.executable, "-m", "jobdeck.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
