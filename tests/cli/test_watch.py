"""``jobdeck watch`` and ``jobdeck start --wait``: live following over /events, exit codes 0 / 1 / 2."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable

import pytest

from jobdeck import Client, JobStatus
from tests.cli.conftest import CLI, FAILING, LONG, QUICK, Background, Run, check_output
from tests.cli.server import ServerProcess

Start = Callable[..., Background]


def is_uuid(line: str) -> bool:
    try:
        return str(uuid.UUID(line.strip())) == line.strip()
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------- start --wait


def test_start_wait_completed_exits_0(cli: Run) -> None:
    result = cli("start", *QUICK, "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert is_uuid(lines[0])
    assert "Removing drafts older than 3 days" in result.stdout  # followed live, messages included
    assert lines[-1].startswith(f"job {lines[0]} (Cleanup) completed after ")
    assert lines[-1].endswith(': {"removed": 17}')


def test_start_wait_failed_exits_1_with_the_error(cli: Run) -> None:
    result = cli("start", *FAILING, "--wait")
    assert result.returncode == 1, result.stderr
    last = result.stdout.splitlines()[-1]
    assert "(DataImport) failed after" in last
    assert "malformed date" in last  # the job's last error message explains the failure


def test_start_wait_aborted_exits_2(background: Start, client: Client) -> None:
    proc = background("start", *LONG, "--wait")
    job_id = proc.wait_line(is_uuid, "the job id").strip()
    proc.wait_line(lambda line: job_id in line and "started by" in line, "the live view to start")
    client.abort(job_id, reason="stop it")
    assert proc.finish() == 2, proc.stderr
    assert proc.lines[-1].startswith(f"job {job_id} (ArgumentCondensation) aborted after ")
    assert proc.lines[-1].endswith(": stop it (by admin)")


# ---------------------------------------------------------------------------------------------- watch ID


@pytest.mark.parametrize(("job", "code", "status"), [
    (QUICK, 0, "completed"),
    (FAILING, 1, "failed"),
])
@pytest.mark.slow
def test_watch_id_exits_with_the_outcome(cli: Run, background: Start, client: Client,
                                         job: list[str], code: int, status: str) -> None:
    job_id = cli("start", *job).stdout.strip()
    proc = background("watch", job_id)
    assert proc.finish() == code, proc.stderr
    assert proc.lines[-1].startswith(f"job {job_id} ")
    assert f" {status} after " in proc.lines[-1]
    assert client.job(job_id).status is JobStatus(status)


def test_watch_id_follows_progress_and_messages_until_aborted(cli: Run, background: Start,
                                                              client: Client) -> None:
    job_id = cli("start", *LONG).stdout.strip()
    proc = background("watch", job_id)
    proc.wait_line(lambda line: re.search(r"question-q\d+-(pros|cons) \d+/\d+", line) is not None,
                   "the current operation to show")
    proc.wait_line(lambda line: "info  Condensing" in line, "a job message to show")
    client.abort(job_id, reason="enough")
    assert proc.finish() == 2, proc.stderr
    assert any("aborting: enough" in line for line in proc.lines)
    assert f"job {job_id} (ArgumentCondensation) aborted after " in proc.lines[-1]
    assert proc.lines[-1].endswith(": enough (by admin)")


@pytest.mark.slow
def test_watch_of_a_finished_job_exits_at_once_with_its_outcome(cli: Run, client: Client) -> None:
    job_id = cli("start", *FAILING).stdout.strip()
    client.wait(job_id, timeout=30)
    result = cli("watch", job_id)
    assert result.returncode == 1
    assert "failed after" in result.stdout.splitlines()[-1]


def test_watch_unknown_or_malformed_id(cli: Run) -> None:
    missing = cli("watch", str(uuid.uuid4()))
    assert (missing.returncode, missing.stdout) == (5, "")
    assert missing.stderr.startswith("jobdeck: error: job ") and missing.stderr.count("\n") == 1
    assert cli("watch", "nope").returncode == 7


@pytest.mark.slow
def test_ctrl_c_while_watching_one_job_leaves_it_running(cli: Run, background: Start, client: Client) -> None:
    job_id = cli("start", *LONG).stdout.strip()
    proc = background("watch", job_id)
    proc.wait_line(lambda line: job_id in line, "the job to show")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.finish() == 130
    assert f"job {job_id} keeps running" in proc.stderr
    assert client.job(job_id, messages=0).status is JobStatus.RUNNING


# ---------------------------------------------------------------------------------------------- watch (all)


@pytest.mark.slow
def test_watch_all_shows_new_jobs_until_ctrl_c(cli: Run, background: Start, client: Client) -> None:
    already = cli("start", *LONG).stdout.strip()
    proc = background("watch")
    proc.wait_line(lambda line: already in line and "running" in line, "the active job")
    quick = cli("start", *QUICK).stdout.strip()
    proc.wait_line(lambda line: quick in line and "started by" in line, "the new job to appear")
    proc.wait_line(lambda line: quick in line and "completed after" in line, "the new job to end")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.finish() == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.slow
def test_watch_all_by_type(cli: Run, background: Start) -> None:
    proc = background("watch", "--type", "DataImport")
    quick = cli("start", *QUICK).stdout.strip()
    failing = cli("start", *FAILING).stdout.strip()
    proc.wait_line(lambda line: failing in line and "failed after" in line, "the DataImport job to fail")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.finish() == 0
    assert not any(quick in line for line in proc.lines)


# ---------------------------------------------------------------------------------------------- live view


def test_live_view_in_a_terminal(server: ServerProcess, cli: Run) -> None:
    """In a real pseudo-terminal ``watch`` draws the rich Live view: bars, operation, messages."""
    job_id = cli("start", "ArgumentCondensation", "-p", "questions=1").stdout.strip()
    master, slave = pty.openpty()
    env = server.env(COLUMNS="140", LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*CLI, "watch", job_id], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=5)
        os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    check_output(screen, server.token)
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn with terminal control sequences, not printed line by line
    assert "━" in screen  # progress bars
    assert "100.0%" in screen
    assert "saving 4/4" in screen  # the current operation
    assert "Saving condensed arguments" in screen  # newest messages
    assert "Ctrl-C stops watching, not the job" in screen
    assert "no active jobs" not in plain  # the job is loaded before the view starts
    assert f"job {job_id} (ArgumentCondensation) completed after" in plain
