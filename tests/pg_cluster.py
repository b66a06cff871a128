"""A private PostgreSQL cluster for tests that must stop the server or need password authentication.

The machine's shared server is never stopped: tests that restart PostgreSQL get a cluster of their own, made
with ``initdb`` in a temporary directory (as an unprivileged user when run as root, since initdb refuses root),
listening on a free loopback port with scram-sha-256 password authentication.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import free_port

PASSWORD = "jobdeck-Cluster-pw-7f3a"


def pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        if subprocess.run(["id", "-u", user], capture_output=True, check=False).returncode == 0:
            return ["runuser", "-u", user, "--"]
    raise RuntimeError("running as root and no unprivileged user for initdb")


class Cluster:
    """``initdb`` + ``pg_ctl start/stop`` on a free port; ``url()`` with the right or a given password."""

    def __init__(self, binaries: Path) -> None:
        self.bin = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="jobdeck-test-pg-"))
        self.data = self.root / "data"
        self.prefix = _run_as()
        if self.prefix:
            shutil.chown(self.root, user=self.prefix[2])
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        if self.prefix:
            shutil.chown(pwfile, user=self.prefix[2])
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}")
        pwfile.unlink()

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / tool), *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "30",
                 "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def url(self, password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/postgres"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
