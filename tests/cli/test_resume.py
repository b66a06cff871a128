"""``jobdeck resume``, ``Client.resume`` and the attempt of a retried job in ``list``, ``show`` and ``watch``
(issue 21), against a real uvicorn on loopback serving a store these tests can reach: jobs are put into the states
they need through the store (a failed job with saved values; a job waiting for its next attempt with
``Store.schedule_retry``), and the commands and the client see them over HTTP only."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from jobdeck import Client, ClientError, JobInfo, JobRunner, MemoryStore
from jobdeck.api import create_app
from jobdeck.cli import main
from jobdeck.cli._common import ExitCode
from tests.api.conftest import TOKEN, live_server, register_test_types
from tests.cli.conftest import Background, check_output
from tests.serve_process import clean_env

OWNER = "elsewhere:1:ab"
NOTE = "nothing was saved or done: the new job starts from the beginning"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def runner() -> Iterator[JobRunner]:
    with MemoryStore(stale_after=600) as store:
        made = JobRunner(store, abort_grace=1)
        register_test_types(made)
        yield made
        made.shutdown(grace=2)


@pytest.fixture(scope="module")
def url(runner: JobRunner) -> Iterator[str]:
    with live_server(create_app(runner=runner, token=TOKEN)) as address:
        yield address


@pytest.fixture
def store(runner: JobRunner) -> MemoryStore:
    store = runner.store
    assert isinstance(store, MemoryStore)
    return store


@pytest.fixture
def client(url: str) -> Iterator[Client]:
    with Client(url, token=TOKEN, timeout=10) as made:
        yield made


@pytest.fixture
def run(url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``jobdeck ARGS`` in this process against the live server; a CompletedProcess."""

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        monkeypatch.setenv("JOBDECK_URL", url)
        monkeypatch.setenv("JOBDECK_TOKEN", TOKEN)
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.delenv("JOBDECK_PREFIX", raising=False)
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        check_output(out + err, TOKEN)
        return subprocess.CompletedProcess(list(args), code, out, err)

    return call


def failed_job(store: MemoryStore, job_type: str = "Quick", saved: dict[str, object] | None = None) -> JobInfo:
    job = store.create_job(job_type, "alice", {"n": 3} if job_type == "Quick" else {}, owner=OWNER)
    for key, value in (saved or {}).items():
        assert store.save_value(job.id, key, value)
    assert store.fail_job(job.id, "RateLimitError: 429 Too Many Requests")
    return job


def waiting_job(store: MemoryStore, due_in: float = 41.5) -> JobInfo:
    """A job of a type no runner here runs (so that nothing claims it but the test), waiting for attempt 2 of 5."""
    job = store.create_job("Flaky", "alice", {}, owner=OWNER, max_attempts=5)
    store.update_progress(job.id, 0.25)
    assert store.schedule_retry(job.id, time.time() + due_in, attempt=1,
                                message="attempt 1 of 5 failed: RateLimitError: 429; retrying in 41 s")
    return job


def seconds_in(text: str) -> int:
    found = re.search(r"attempt 2 of 5, retrying in (\d+) s", text)
    assert found, text
    return int(found.group(1))


# --------------------------------------------------------------------------- needs JobRunner.resume (r-runtime)

def test_the_client_resumes_a_failed_job(client: Client, store: MemoryStore, runner: JobRunner) -> None:
    old = failed_job(store, saved={"q1": "kept"})
    new = client.resume(old.id, author="bob")
    assert (new.job_type, new.params, new.author) == ("Quick", {"n": 3}, "bob")
    assert new.resumed_from == old.id and new.rerun_of == old.id and new.id != old.id
    runner.wait(new.id, timeout=10)
    assert store.saved_values(new.id)["q1"] == "kept"
    bare = failed_job(store)
    answer = client.resume_answer(bare.id)
    assert answer["note"] == NOTE and answer["resumedFrom"] == bare.id
    runner.wait(answer["id"], timeout=10)


def test_jobdeck_resume_takes_a_prefix_and_prints_the_new_id(run: Run, store: MemoryStore,
                                                             runner: JobRunner) -> None:
    old = failed_job(store, saved={"q1": "kept"})
    result = run("resume", old.id[:8], "--author", "carol")
    assert result.returncode == ExitCode.OK, result.stderr
    new_id = result.stdout.strip()
    assert str(uuid.UUID(new_id)) == new_id != old.id and result.stderr == ""
    new = runner.wait(new_id, timeout=10)
    assert new.resumed_from == old.id and new.author == "carol"
    shown = run("show", new_id[:8])
    assert re.search(rf"^resumed from +{old.id} \(its saved values and done operations\)", shown.stdout, re.M)
    bare = failed_job(store)
    noted = run("resume", bare.id, "--json")
    assert noted.returncode == ExitCode.OK, noted.stderr
    assert json.loads(noted.stdout)["resumedFrom"] == bare.id
    assert noted.stderr == f"note: {NOTE}\n"
    runner.wait(json.loads(noted.stdout)["id"], timeout=10)


# --------------------------------------------------------------------------- refusals

def test_resume_refusals(client: Client, run: Run, store: MemoryStore, runner: JobRunner) -> None:
    running = runner.start("Waits", "alice")
    try:
        with pytest.raises(ClientError, match="still active") as refused:
            client.resume(running.id)
        assert refused.value.status_code == 409
        busy = run("resume", running.id[:8])
        assert busy.returncode == ExitCode.CONFLICT and busy.stdout == ""
        assert busy.stderr == (f"jobdeck: error: job {running.id} is running, still active: only a failed or aborted "
                               "job can be resumed; wait for it to end, or abort it first (HTTP 409)\n")
    finally:
        runner.abort(running.id, "test over")
        runner.wait(running.id, timeout=10)
    missing = run("resume", str(uuid.uuid4()))
    assert missing.returncode == ExitCode.NOT_FOUND and missing.stderr.count("\n") == 1
    assert run("resume").returncode == ExitCode.BAD_INPUT  # the ID is required


# --------------------------------------------------------------------------- the attempt, in words

def test_list_and_show_say_which_attempt_and_when_it_retries(run: Run, store: MemoryStore) -> None:
    job = waiting_job(store)
    try:
        listed = run("list")
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith(job.id[:8]))
        assert 35 <= seconds_in(row) <= 42 and " queued " in row
        shown = run("show", job.id)
        status = next(line for line in shown.stdout.splitlines() if line.startswith("status"))
        assert 35 <= seconds_in(status) <= 42 and status.split()[1] == "queued,"
        assert "attempt 1 of 5 failed: RateLimitError: 429" in shown.stdout  # the failed attempt's warning
        # The second attempt runs: it is named while it runs, without a countdown.
        assert store.claim_job(job.id, OWNER) is not None
        row = next(line for line in run("list").stdout.splitlines() if line.startswith(job.id[:8]))
        assert "attempt 2 of 5" in row and "retrying" not in row and " running " in row
        status = next(line for line in run("show", job.id).stdout.splitlines() if line.startswith("status"))
        assert status.split(None, 1)[1].rstrip() == "running, attempt 2 of 5"
        assert store.fail_job(job.id, "RateLimitError: 429 again")
        past = next(line for line in run("list", "--past").stdout.splitlines() if line.startswith(job.id[:8]))
        assert "attempt 2 of 5: RateLimitError: 429 again" in past
    finally:
        store.request_abort(job.id, "test over")
    # A job of a type that does not retry says nothing of attempts.
    once = failed_job(store, "Boom")
    assert "attempt" not in run("show", once.id).stdout.split("RateLimitError")[0]


@pytest.mark.slow
def test_watch_says_when_the_job_retries_and_which_attempt_runs(url: str, store: MemoryStore) -> None:
    job = waiting_job(store)
    watch = Background(["watch", job.id], clean_env(JOBDECK_URL=url, JOBDECK_TOKEN=TOKEN), TOKEN)
    try:
        first = watch.wait_line(lambda line: job.id in line and "queued" in line, what="the waiting job")
        assert 35 <= seconds_in(first) <= 42 and "queued, 25%, attempt 2 of 5, retrying in" in first
        assert store.claim_job(job.id, OWNER) is not None
        watch.wait_line(lambda line: line.endswith("Flaky running, attempt 2 of 5"), what="the second attempt")
        assert store.fail_job(job.id, "RateLimitError: 429 again")
        assert watch.finish(timeout=30) == ExitCode.FAILED
    finally:
        watch.kill()
    summary = watch.lines[-1]
    assert summary.startswith(f"job {job.id} (Flaky) failed after") and "(attempt 2 of 5): RateLimitError" in summary
