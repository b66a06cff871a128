"""Every error is one line on stderr with a documented exit code, never a traceback, never the token.

The full matrix of commands runs in-process through ``main()`` (the same code minus interpreter start-up);
each kind of error also runs as a real subprocess.
"""

from __future__ import annotations

import uuid

import pytest

from jobdeck import Client
from tests.cli.conftest import LONG, Run
from tests.cli.server import ServerProcess, clean_env
from tests.conftest import free_port

SOME_ID = "3f2a9c1e-0c7e-4bd6-9d4e-8f0f7f1c2a11"

COMMANDS = [
    ("list",),
    ("list", "--past"),
    ("show", SOME_ID),
    ("start", "Cleanup"),
    ("abort", SOME_ID),
    ("abort", "--all"),
    ("watch", SOME_ID),
    ("watch",),
    ("types",),
    ("stats",),
]


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("jobdeck: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_server_down_is_one_line_and_exit_3(run_main: Run, args: tuple[str, ...]) -> None:
    port = free_port()
    result = run_main(*args, env=clean_env(JOBDECK_URL=f"http://127.0.0.1:{port}", JOBDECK_TOKEN="secret-xyz"))
    assert result.returncode == 3
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert line == f"jobdeck: error: cannot reach jobdeck at http://127.0.0.1:{port}: connection refused"
    assert "secret-xyz" not in result.stderr


@pytest.mark.parametrize("args", [("list",), ("watch", SOME_ID)], ids=" ".join)
def test_server_down_as_a_subprocess(cli: Run, args: tuple[str, ...]) -> None:
    port = free_port()
    result = cli(*args, env=clean_env(JOBDECK_URL=f"http://127.0.0.1:{port}", JOBDECK_TOKEN="secret-xyz"))
    assert (result.returncode, result.stdout) == (3, "")
    assert one_error_line(result.stderr) == \
        f"jobdeck: error: cannot reach jobdeck at http://127.0.0.1:{port}: connection refused"
    assert "secret-xyz" not in result.stderr


@pytest.mark.slow
def test_default_url_and_url_option(cli: Run, server: ServerProcess) -> None:
    # No JOBDECK_URL: the documented default, named in the error when nothing listens there.
    env = clean_env(JOBDECK_TOKEN=server.token)
    default = cli("stats", env=env)
    if default.returncode == 3:
        assert "http://127.0.0.1:8000" in default.stderr
    # --url before or after the command reaches the server.
    assert cli("--url", server.url, "stats", env=env).returncode == 0
    assert cli("stats", "--url", server.url, env=env).returncode == 0


def test_a_bad_url_is_one_line(cli: Run) -> None:
    result = cli("list", "--url", "ftp://example.org")
    assert result.returncode == 3
    assert "invalid jobdeck URL" in one_error_line(result.stderr)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_token_is_exit_4(run_main: Run, server: ServerProcess, args: tuple[str, ...]) -> None:
    result = run_main(*args, env=clean_env(JOBDECK_URL=server.url))
    assert result.returncode == 4
    assert "JOBDECK_TOKEN" in one_error_line(result.stderr)


@pytest.mark.slow
def test_wrong_token_is_exit_4_and_never_printed(cli: Run, server: ServerProcess) -> None:
    for env, args in ((clean_env(JOBDECK_URL=server.url, JOBDECK_TOKEN="wrong-token-123"), ("list",)),
                      (clean_env(JOBDECK_URL=server.url), ("list", "--token", "wrong-token-123")),
                      (clean_env(JOBDECK_URL=server.url), ("--token", "wrong-token-123", "watch"))):
        result = cli(*args, env=env)
        assert result.returncode == 4
        line = one_error_line(result.stderr)
        assert "403" in line
        assert "wrong-token-123" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["show", "abort", "watch"])
def test_unknown_id_is_exit_5_and_malformed_id_exit_7(run_main: Run, server: ServerProcess, command: str) -> None:
    missing = str(uuid.uuid4())
    result = run_main(command, missing, env=server.env())
    assert result.returncode == 5
    assert missing in one_error_line(result.stderr)
    result = run_main(command, "not-an-id", env=server.env())
    assert result.returncode == 7
    assert "not-an-id" in one_error_line(result.stderr)


def test_unknown_type_is_exit_5(cli: Run) -> None:
    result = cli("start", "NoSuchType")
    assert result.returncode == 5
    line = one_error_line(result.stderr)
    assert "NoSuchType" in line and "Cleanup" in line  # names the types there are


def test_too_many_active_jobs_is_exit_6(cli: Run, client: Client) -> None:
    assert cli("start", *LONG).returncode == 0
    result = cli("start", *LONG)
    assert result.returncode == 6
    assert result.stdout == ""
    assert "ArgumentCondensation" in one_error_line(result.stderr)


@pytest.mark.parametrize("args", [
    ("start", "Cleanup", "-p", "nonsense=1"),  # refused by the server (400)
    ("start", "Cleanup", "-p", "novalue"),
    ("start", "Cleanup", "--params-json", "{oops"),
    ("start", "Cleanup", "--params-json", "[1]"),
    ("list", "--past", "--limit", "0"),
    ("list", "--status", "sleeping"),
    ("show", SOME_ID, "--last", "-1"),
    ("watch", "--messages", "-1"),
    ("watch", SOME_ID, "--type", "Cleanup"),
    ("list", "--timeout", "0"),
    ("frobnicate",),
    (),
], ids=" ".join)
def test_bad_input_is_exit_7(run_main: Run, server: ServerProcess, args: tuple[str, ...]) -> None:
    result = run_main(*args, env=server.env())
    assert result.returncode == 7, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], result.stderr


@pytest.mark.parametrize("args", [("show", "not-an-id"), ("start", "Cleanup", "-p", "novalue"), ("frobnicate",)],
                         ids=" ".join)
def test_bad_input_as_a_subprocess(cli: Run, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert (result.returncode, result.stdout) == (7, "")
    assert len(result.stderr.splitlines()) == 1
