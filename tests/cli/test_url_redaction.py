"""What the command line prints about a store or executor URL never shows its password: the worker's banner (the
server's is in test_serve.py), and the lines for a store that cannot be opened."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import free_port, unique_schema
from tests.stores.conftest import drop_schema

from .conftest import Background, run_cli

PASSWORD = "s3cret-pw"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}


@pytest.mark.slow  # a worker process
@pytest.mark.postgres
def test_the_worker_banner_shows_the_store_without_its_password(postgres_url: str) -> None:
    # The test server trusts local connections, so the password is sent nowhere and only the banner can show it.
    parts = urlsplit(postgres_url)
    netloc = f"{parts.username or 'postgres'}:{PASSWORD}@{parts.netloc.rpartition('@')[2]}"
    schema = unique_schema()
    store = urlunsplit(parts._replace(netloc=netloc, query=f"schema={schema}"))
    broker = f"celery+redis://127.0.0.1:{free_port()}/0"  # nothing listens: the worker gets as far as its banner
    worker = Background(["worker", "--demo", "--store", store, "--executor", broker], _env(), token=PASSWORD)
    try:
        line = worker.wait_line(lambda line: line.startswith("  store:"), "the banner's store line", timeout=60)
        assert ":***@" in line
        assert PASSWORD not in "\n".join(worker.lines) + worker.stderr
    finally:
        worker.kill()
        drop_schema(postgres_url, schema)


def test_a_store_that_cannot_be_opened_is_one_line_without_the_password(tmp_path: Path) -> None:
    result = run_cli("serve", "--store", f"postgress://user:{PASSWORD}@127.0.0.1/db", "--port", str(free_port()),
                     env=_env(), timeout=60)
    assert result.returncode != 0
    assert "unknown store URL scheme 'postgress'" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr and "Traceback" not in result.stderr
