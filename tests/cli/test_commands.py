"""``jobdeck list | show | start | abort | types | stats`` as subprocesses against a real demo server."""

from __future__ import annotations

import json
import shlex
import uuid

import pytest

from jobdeck import Client, JobStatus
from jobdeck.cli._commands import parse_params
from tests.cli.conftest import LONG, QUICK, Run
from tests.cli.server import ServerProcess


def started_id(stdout: str) -> str:
    job_id = stdout.strip()
    assert str(uuid.UUID(job_id)) == job_id, stdout
    return job_id


@pytest.mark.slow
def test_types_table_and_json(cli: Run, run_main: Run) -> None:
    table = cli("types")
    assert table.returncode == 0, table.stderr
    for name in ("ArgumentCondensation", "QuestionInfoGeneration", "DataImport", "Cleanup"):
        assert name in table.stdout
    assert "days=30" in table.stdout
    types = json.loads(run_main("types", "--json").stdout)
    assert {t["jobType"]: t["maxConcurrent"] for t in types}["Cleanup"] == 2


def test_stats_counts_a_finished_job(cli: Run, run_main: Run, client: Client) -> None:
    before = json.loads(run_main("stats", "--json").stdout)
    job_id = started_id(run_main("start", *QUICK).stdout)
    client.wait(job_id, timeout=30)
    after = json.loads(run_main("stats", "--json").stdout)
    assert after["completed"] == before["completed"] + 1
    text = cli("stats").stdout
    assert f"completed   {after['completed']}" in text


def test_start_prints_the_id_and_reads_params_as_json_when_they_parse(cli: Run, run_main: Run,
                                                                     client: Client) -> None:
    result = cli("start", "Cleanup", "--param", "days=3", "--author", "ops@example.com")
    assert result.returncode == 0, result.stderr
    job = client.job(started_id(result.stdout))
    assert (job.job_type, job.params, job.author) == ("Cleanup", {"days": 3}, "ops@example.com")
    # Not JSON: the plain string, which the server checks against the parameter's type before creating a job.
    refused = run_main("start", "Cleanup", "-p", "days=three")
    assert refused.returncode == 7 and "days" in refused.stderr and refused.stderr.count("\n") == 1


def test_start_params_json_and_json_output(run_main: Run, client: Client) -> None:
    result = run_main("start", "DataImport", "--params-json", '{"rows": 10, "fail_at": 0.5}', "-p", "fail_at=0.1",
                 "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["jobType"] == "DataImport"
    assert shown["params"] == {"rows": 10, "fail_at": 0.1}
    assert client.wait(shown["id"], timeout=30).status is JobStatus.FAILED


def test_start_author_defaults_to_the_environment(run_main: Run, client: Client, server: ServerProcess) -> None:
    env = server.env(JOBDECK_AUTHOR="nightly-cron")
    job = client.job(started_id(run_main("start", *QUICK, env=env).stdout))
    assert job.author == "nightly-cron"


@pytest.mark.parametrize(("pairs", "params_json", "expected"), [
    (["n=3", "ratio=0.5", "flag=true", "none=null"], None, {"n": 3, "ratio": 0.5, "flag": True, "none": None}),
    (["ids=[1, 2]", "obj={\"a\": 1}"], None, {"ids": [1, 2], "obj": {"a": 1}}),
    (["name=alice", "quoted=\"3\"", "empty=", "eq=a=b"], None, {"name": "alice", "quoted": "3", "empty": "",
                                                               "eq": "a=b"}),
    (["n=4"], '{"n": 1, "m": 2}', {"n": 4, "m": 2}),
])
def test_parse_params(pairs: list[str], params_json: str | None, expected: dict[str, object]) -> None:
    assert parse_params(pairs, params_json) == expected


@pytest.mark.parametrize(("pairs", "params_json", "message"), [
    (["novalue"], None, "KEY=VALUE"),
    (["=3"], None, "KEY=VALUE"),
    ([], "{not json", "not valid JSON"),
    ([], "[1, 2]", "must be a JSON object"),
])
def test_parse_params_rejects(pairs: list[str], params_json: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_params(pairs, params_json)


def test_list_active_then_past(cli: Run, run_main: Run, client: Client) -> None:
    assert run_main("list").stdout.strip() == "no active jobs"
    job_id = started_id(run_main("start", *LONG).stdout)
    table = cli("list")
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if line.startswith(job_id[:8]))  # 8-char ids
    assert "ArgumentCondensation" in row and "running" in row
    listed = json.loads(run_main("list", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]
    assert listed[0]["infoMessages"] == []  # lists carry no messages
    assert json.loads(run_main("list", "--json", "--type", "Cleanup").stdout) == []
    assert json.loads(run_main("list", "--json", "--status", "aborting").stdout) == []
    assert run_main("list", "--status", "running", "--type", "ArgumentCondensation").stdout.count(job_id[:8]) == 1

    client.abort(job_id)
    client.wait(job_id, timeout=30)
    past = json.loads(run_main("list", "--past", "--json", "--status", "aborted").stdout)
    assert job_id in [j["id"] for j in past]
    assert {j["status"] for j in past} == {"aborted"}
    assert job_id[:8] in cli("list", "--past", "--type", "ArgumentCondensation", "--limit", "1").stdout


def test_list_rejects_statuses_that_cannot_match(run_main: Run) -> None:
    result = run_main("list", "--status", "completed")
    assert result.returncode == 7
    assert "--past" in result.stderr
    assert run_main("list", "--past", "--status", "running").returncode == 7


def test_show_fields_and_messages(cli: Run, run_main: Run, client: Client) -> None:
    job_id = client.start("Cleanup", {"days": 3}).id
    client.wait(job_id, timeout=30)
    result = cli("show", job_id)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in (job_id, "Cleanup", "completed", "100.0%", '{"days": 3}', '{"removed": 17}',
                     "info  Removing drafts older than 3 days", "info  Removed 17 drafts"):
        assert expected in text
    assert text.index("Removing drafts") < text.index("Removed 17 drafts")  # oldest first
    shown = json.loads(run_main("show", job_id, "--json").stdout)
    assert shown["status"] == "completed"
    assert [m["message"] for m in shown["infoMessages"]] == ["Removing drafts older than 3 days", "Removed 17 drafts"]
    last = json.loads(run_main("show", job_id, "--json", "--last", "1").stdout)
    assert [m["message"] for m in last["infoMessages"]] == ["Removed 17 drafts"]


def test_show_prints_the_operation_tree_where_the_job_stopped(run_main: Run, client: Client) -> None:
    job_id = client.start("DataImport", {"rows": 10, "fail_at": 0.1}).id
    client.wait(job_id, timeout=30)
    text = run_main("show", job_id).stdout
    lines = text.splitlines()
    assert "operations" in lines
    assert "  reading  done  100.0%" in lines
    stopped = [line for line in lines if line.startswith("  importing (weight 4)  stopped  ")]
    assert len(stopped) == 1 and stopped[0].endswith("%")
    assert text.index("operations") < text.index("malformed date")  # the tree before the messages
    shown = json.loads(run_main("show", job_id, "--json").stdout)
    assert [op["id"] for op in shown["operations"]] == ["reading", "importing"]


def test_show_prints_user_text_verbatim(run_main: Run, client: Client) -> None:
    # Authors and params are the user's text: rich markup in them must print as written, not style the output.
    job_id = client.start("Cleanup", {"days": 3}, author="[bold]ops[/bold]").id
    client.wait(job_id, timeout=30)
    assert "[bold]ops[/bold]" in run_main("show", job_id).stdout


def test_abort_one_with_a_reason_then_again(cli: Run, run_main: Run, client: Client) -> None:
    job_id = client.start("ArgumentCondensation", {"questions": 50}).id
    result = cli("abort", job_id, "--reason", "wrong input file")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    job = client.wait(job_id, timeout=30)
    assert (job.status, job.abort_reason, job.aborted_by) == (JobStatus.ABORTED, "wrong input file", "admin")
    shown = run_main("show", job_id).stdout
    assert "wrong input file (requested by admin " in shown
    again = run_main("abort", job_id)  # idempotent: a job that already ended is not an error
    assert again.returncode == 0, again.stderr
    assert "already ended with status 'aborted'" in again.stdout


def test_abort_all(cli: Run, run_main: Run, client: Client) -> None:
    long_id = client.start("ArgumentCondensation", {"questions": 50}).id
    result = cli("abort", "--all", "--reason", "maintenance", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["abortRequestedJobIds"] == [long_id] and answer["abortRequestedFor"] == 1
    assert client.wait(long_id, timeout=30).abort_reason == "maintenance"
    assert run_main("abort", "--all").returncode == 0  # nothing to abort is not an error


def test_abort_needs_exactly_one_target(run_main: Run) -> None:
    for args in ((), ("--all", str(uuid.uuid4()))):
        result = run_main("abort", *args)
        assert result.returncode == 7
        assert result.stderr.count("\n") == 1 and "either a job ID or --all" in result.stderr


def test_list_past_pages_with_before(cli: Run, run_main: Run, client: Client) -> None:
    for _ in range(3):
        job_id = started_id(run_main("start", *LONG).stdout)
        client.abort(job_id)
        client.wait(job_id, timeout=30)
    everything = [job.id for job in client.iter_past(page_size=2)]
    assert everything == [job.id for job in client.past(messages=0)] and len(everything) >= 3
    seen: list[str] = []
    args = ["list", "--past", "--json", "--limit", "2"]
    for _ in range(len(everything)):
        result = run_main(*args)
        assert result.returncode == 0, result.stderr
        seen += [j["id"] for j in json.loads(result.stdout)]
        more = [line for line in result.stderr.splitlines() if line.startswith("more: ")]
        if not more:
            break
        args = ["list", "--past", "--json", *shlex.split(more[0].removeprefix("more: jobdeck list --past"))]
    assert seen == everything
    table = cli("list", "--past", "--limit", "1")
    assert "more: jobdeck list --past --limit 1 --before " in table.stderr
    assert run_main("list", "--past", "--before", "x").returncode == 7  # --before needs --limit
    bad = run_main("list", "--past", "--limit", "1", "--before", "not-a-cursor")
    assert bad.returncode != 0 and "cursor" in bad.stderr
