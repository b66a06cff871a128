"""A real ``jobdeck serve --demo`` on a free loopback port, for client and CLI tests.

The server runs as a subprocess exactly as an operator starts it (see ``tests.serve_process``); tests talk to
it over HTTP, and CLI subprocesses reach it through the environment ``env()`` gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.serve_process import ServeProcess, clean_env, demo_args

__all__ = ["TOKEN", "ServerProcess", "clean_env", "running_server"]

TOKEN = "cli-test-token-5e1d9c"  # the tests check it never shows up in any output


class ServerProcess(ServeProcess):
    """A demo server with a token, as the CLI and client tests use it."""

    def env(self, **extra: str) -> dict[str, str]:
        """What a CLI subprocess needs to reach this server."""
        return clean_env(JOBDECK_URL=self.url, JOBDECK_TOKEN=self.token or "", **extra)


@contextmanager
def running_server(log_dir: Path, token: str = TOKEN, store: str = "memory://",
                   extra: Sequence[str] = (), port: int | None = None) -> Iterator[ServerProcess]:
    """Start ``jobdeck serve --demo`` and wait (with a deadline) until /healthz answers; stop it afterwards."""
    with ServerProcess(log_dir, demo_args(store, 10, *extra), token=token, port=port) as server:
        yield server
