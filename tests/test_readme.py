"""The README's first example runs as written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_ten_line_example_runs_and_completes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    start = text.index("```python\nfrom jobdeck import JobRunner")
    code = text[start + len("```python\n"): text.index("```", start + 10)]
    monkeypatch.chdir(tmp_path)  # the example opens sqlite:///jobs.db in the working directory
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    runner, job = namespace["runner"], namespace["job"]
    try:
        done = runner.wait(job.id, timeout=30)  # type: ignore[attr-defined]
        assert done.status.value == "completed" and done.result == {"condensed": 2}
        assert os.path.exists(tmp_path / "jobs.db")
    finally:
        runner.shutdown()  # type: ignore[attr-defined]
        runner.store.close()  # type: ignore[attr-defined]
