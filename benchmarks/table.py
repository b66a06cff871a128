"""Result rows, the printed table and the JSON record of a run.

Every figure is a median over repeats and every verdict is a ratio against a baseline measured in the same run
(or a latency/count bound the issue states), because the machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Row:
    """One line of the table. ``passed`` is None for figures reported without a target (peers, context)."""

    section: str
    operation: str
    jobdeck: str = ""
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # raw numbers for later comparison

    @property
    def verdict(self) -> str:
        if self.note.startswith("skipped"):
            return "skip"
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]


def skipped(section: str, operation: str, why: str) -> Row:
    """A row for a section whose dependency (a store, the API, a peer, Redis) is not there."""
    return Row(section, operation, note=f"skipped: {why}")


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} us"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def ratio(a: float, b: float) -> str:
    if b <= 0:
        return "n/a"
    r = a / b
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x"


def machine() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


_COLUMNS = ("section", "operation", "jobdeck", "baseline", "ratio", "target", "result")


def render(rows: list[Row]) -> str:
    """A plain-text table (also readable when piped to a file or a CI log)."""
    cells = [[r.section, r.operation, r.jobdeck, r.baseline, r.ratio, r.target, r.verdict] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) if cells else len(c) for i, c in enumerate(_COLUMNS)]
    out = []

    def fmt(line: list[str] | tuple[str, ...]) -> str:
        return "  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip()

    out.append(fmt(_COLUMNS))
    out.append("  ".join("-" * w for w in widths))
    for row, line in zip(rows, cells, strict=True):
        out.append(fmt(line))
        if row.note:
            out.append(" " * (widths[0] + 2) + "  " + row.note)
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    """The same table in Markdown, for docs/performance.md."""
    lines = ["| section | operation | jobdeck | baseline | ratio | target | result |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.section} | {r.operation}{note} | {r.jobdeck} | {r.baseline} | {r.ratio} | "
                     f"{r.target} | {r.verdict} |")
    return "\n".join(lines)


def write_json(rows: list[Row], *, quick: bool, elapsed: float, path: Path | None = None) -> Path:
    """``benchmarks/results/<timestamp>.json`` (git-ignored) so that later runs can be compared."""
    if path is None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}{'-quick' if quick else ''}.json"
    record = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        "elapsed_seconds": round(elapsed, 1),
        "machine": machine(),
        "argv": sys.argv[1:],
        "rows": [{**asdict(r), "result": r.verdict} for r in rows],
    }
    path.write_text(json.dumps(record, indent=2, default=str))
    return path
