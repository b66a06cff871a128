"""Print a saved run as Markdown (for docs/performance.md) or compare two runs.

    python -m benchmarks.report benchmarks/results/20260101T000000.json
    python -m benchmarks.report OLD.json NEW.json      # rows side by side: jobdeck figure and result in each
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .table import Row, markdown


def load(path: str) -> tuple[dict[str, Any], list[Row]]:
    record = json.loads(Path(path).read_text())
    fields = set(Row.__dataclass_fields__)
    rows = [Row(**{k: v for k, v in r.items() if k in fields}) for r in record["rows"]]
    return record, rows


def main(argv: list[str]) -> int:
    if len(argv) == 1:
        record, rows = load(argv[0])
        m = record["machine"]
        print(f"Measured on {m['cores']} cores, {m['cpu']}, Python {m['python']}"
              f"{' (quick run)' if record['quick'] else ''}, {record['elapsed_seconds']:.0f} s in all.\n")
        print(markdown(rows))
        return 0
    if len(argv) == 2:
        (_, old), (_, new) = load(argv[0]), load(argv[1])
        before = {(r.section, r.operation): r for r in old}
        for row in new:
            prev = before.get((row.section, row.operation))
            was = f"{prev.jobdeck or prev.baseline} [{prev.verdict}]" if prev else "(new)"
            print(f"{row.section:7} {row.operation[:70]:70} {was:>28} -> {row.jobdeck or row.baseline} "
                  f"[{row.verdict}]")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
