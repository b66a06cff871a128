"""``jobdeck failures`` and ``jobdeck bulk`` against a real demo server."""

from __future__ import annotations

import json
import uuid

import pytest

from jobdeck import Client, JobStatus
from tests.cli.conftest import Run


@pytest.mark.slow
def test_failures_then_a_bulk_rerun_of_them(run_main: Run, client: Client) -> None:
    author = f"bulk-cli-{uuid.uuid4().hex[:8]}"  # scopes the filter to this test's jobs on the shared server
    failed = []
    for _ in range(2):  # one at a time: DataImport runs one job at once
        job_id = client.start("DataImport", {"rows": 10, "fail_at": 0.1}, author=author).id
        assert client.wait(job_id, timeout=30).status is JobStatus.FAILED
        failed.append(job_id)
    shown = run_main("failures", "--type", "DataImport", "--json")
    assert shown.returncode == 0, shown.stderr
    groups = json.loads(shown.stdout)
    assert set(failed) <= {i for group in groups for i in group["jobIds"]}
    assert run_main("failures", "--type", "DataImport").stdout.count("e.g. ") == len(groups)

    dry = run_main("bulk", "rerun", "--filter", author, "--status", "failed", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would re-run 2 jobs") and all(i in dry.stdout for i in failed)
    started = run_main("bulk", "rerun", "--filter", author, "--status", "failed")
    assert started.returncode == 0, started.stderr
    bulk_id = started.stdout.splitlines()[0]
    bulk = client.wait(bulk_id, timeout=60)  # the second re-run waits for the first's slot
    assert bulk.status is JobStatus.COMPLETED and bulk.result["acted"] == 2 and bulk.job_type == "jobdeck.bulk"
    reruns = [j for j in client.search(job_type="DataImport", limit=200)["jobs"] if j["rerunOf"] in failed]
    assert sorted(j["rerunOf"] for j in reruns) == sorted(failed)
    for job in reruns:
        client.wait(job["id"], timeout=30)


def test_bulk_needs_ids_or_a_filter_not_both(run_main: Run) -> None:
    assert run_main("bulk", "abort").returncode == 7  # a usage error
    assert run_main("bulk", "abort", "--id", str(uuid.uuid4()), "--type", "Cleanup").returncode == 7
