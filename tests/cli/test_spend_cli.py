"""What a job spent in ``jobdeck show`` and ``jobdeck list`` (issue 24), against the demo server (whose LLM types
record made-up use priced by the demo's price table); and ``--prices FILE``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobdeck import Client
from jobdeck.cli._serve import _load_prices
from tests.cli.conftest import Run


def test_show_and_list_print_the_cost(run_main: Run, client: Client) -> None:
    job_id = client.start("QuestionInfoGeneration", params={"questions": 1}).id
    client.wait(job_id, timeout=30)
    shown = run_main("show", job_id).stdout
    usage = next(line for line in shown.splitlines() if line.startswith("usage"))
    # Two parts of demo-large: 2 x (12,400 in + 2,000 out) tokens, 2 x $0.051.
    assert "$0.10" in usage and "24,800 in + 4,000 out tokens" in usage and "requests 2" in usage
    assert "demo-large $0.10 (28,800 tokens)" in usage
    assert "generation (weight 6)  done  100.0%  $0.10, 28,800 tokens" in shown, shown  # the operation's share
    assert "q1-terms  done  100.0%  $0.05, 14,400 tokens" in shown
    listed = run_main("list", "--past", "--type", "QuestionInfoGeneration").stdout
    header, *rows = listed.splitlines()
    assert "COST" in header.split()
    assert any(row.startswith(job_id[:8]) and "$0.10" in row for row in rows), listed
    as_json = json.loads(run_main("show", job_id, "--json").stdout)
    assert as_json["usage"]["cost"] == pytest.approx(0.102)


def test_prices_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "prices.json"
    good.write_text(json.dumps({"gpt-4o-mini": {"input": 0.15, "output": 0.6}}))
    assert _load_prices(str(good)) == {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}
    bad = tmp_path / "bad.json"
    for text, words in (("{", "is not a price table"), ('{"m": {"input": -1}}', "finite number >= 0")):
        bad.write_text(text)
        with pytest.raises(Exception, match=words) as caught:
            _load_prices(str(bad))
        assert type(caught.value).__name__ == "_Fatal" and caught.value.code == 2  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="cannot read"):
        _load_prices(str(tmp_path / "missing.json"))
