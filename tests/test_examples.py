"""The examples in examples/ run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_question_pipeline_example_runs_the_reference_usage_end_to_end() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "question_pipeline.py")],
                         capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.splitlines()
    assert any(line.startswith("ArgumentCondensation") and " completed " in line and "'condensed': 5" in line
               for line in lines), out.stdout
    assert any(line.startswith("QuestionInfoGeneration") and " failed " in line for line in lines), out.stdout
    assert any(line.startswith("ArgumentCondensation") and " aborted " in line for line in lines), out.stdout
    assert "INFO    jobdeck: job" in out.stderr  # messages reach logging
