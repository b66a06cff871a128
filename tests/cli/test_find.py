"""``jobdeck search | rerun`` and id prefixes in every command that takes an id, against a real demo server."""

from __future__ import annotations

import json
import uuid

import pytest

from jobdeck import Client, JobStatus
from tests.cli.conftest import Run
from tests.cli.server import ServerProcess


@pytest.mark.slow
def test_every_id_taking_command_accepts_a_unique_prefix(cli: Run, run_main: Run, client: Client) -> None:
    job_id = client.start("Cleanup", {"days": 11}, author="prefix-test").id
    client.wait(job_id, timeout=30)
    shown = run_main("show", job_id[:8], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == job_id
    assert run_main("show", job_id[:6].upper(), "--json").returncode == 0
    watched = cli("watch", job_id[:8])
    assert watched.returncode == 0, watched.stderr
    again = run_main("abort", job_id[:7], "--json")  # abort is idempotent: a finished job answers its status
    assert again.returncode == 0, again.stderr
    short = run_main("show", job_id[:5])
    assert short.returncode == 7 and "at least 6" in short.stderr and short.stderr.count("\n") == 1
    missing = run_main("show", "ffffffff" if not job_id.startswith("ffffffff") else "00000000")
    assert missing.returncode == 5 and missing.stderr.count("\n") == 1


@pytest.mark.slow
def test_rerun_starts_the_same_params_and_waits(cli: Run, run_main: Run, client: Client) -> None:
    first = client.start("Cleanup", {"days": 13}, author="rerun-test").id
    client.wait(first, timeout=30)
    result = cli("rerun", first[:8], "--wait")
    assert result.returncode == 0, result.stderr
    new_id = result.stdout.splitlines()[0].strip()
    assert str(uuid.UUID(new_id)) == new_id != first
    job = client.job(new_id)
    assert (job.job_type, job.params, job.rerun_of, job.status) == ("Cleanup", {"days": 13}, first,
                                                                       JobStatus.COMPLETED)
    edited = run_main("rerun", first[:8], "--param", "days=14", "--json")
    assert edited.returncode == 0, edited.stderr
    data = json.loads(edited.stdout)
    assert data["params"] == {"days": 14} and data["rerunOf"] == first
    client.wait(data["id"], timeout=30)
    bad = run_main("rerun", first[:8], "--param", "days=-1")
    assert bad.returncode == 7 and "days" in bad.stderr and bad.stderr.count("\n") == 1


@pytest.mark.slow
def test_search_and_list_past_at_80_columns(cli: Run, run_main: Run, client: Client,
                                            server: ServerProcess) -> None:
    failed = client.start("DataImport", {"rows": 10, "fail_at": 0.1}, author="search-test@example.org").id
    client.wait(failed, timeout=30)
    found = cli("search", "search-test", env=server.env(COLUMNS="80"))
    assert found.returncode == 0, found.stderr
    row = next(line for line in found.stdout.splitlines() if failed[:8] in line)
    assert "failed" in row and "ValueError" in row and len(row) <= 80
    wide = cli("search", "search-test", env=server.env(COLUMNS="160")).stdout
    assert "ValueError: row 1: malformed date" in wide
    assert json.loads(run_main("search", "search-test", "--json").stdout)["jobs"][0]["id"] == failed
    assert run_main("search", "no-such-words-anywhere").stdout.strip() == "no matching jobs"
    listed = cli("list", "--past", "--limit", "5", env=server.env(COLUMNS="80"))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = lines[0]
    assert "STATUS" in header and "PROG" in header and "ERROR" in header
    row = next(line for line in lines if failed[:8] in line)
    assert "failed" in row and "100%" not in row and "ValueError" in row
