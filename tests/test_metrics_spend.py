"""The spending figures (issue 24): ``jobdeck_llm_tokens_total`` and ``jobdeck_job_cost_total``, counted once when a
job ends, by the store object that ended it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from jobdeck import JobRunner, PipelineController
from jobdeck.runtime.metrics import JobCounters
from jobdeck.stores import open_store
from tests.scrape import samples, value


def test_tokens_and_cost_are_counted_when_a_job_ends(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    registry = CollectorRegistry()
    store.add_observer(JobCounters(registry).observe)
    runner = JobRunner(store, prices={"gpt-4o-mini": {"input": 0.15, "output": 0.60}})

    def work(ctl: PipelineController) -> None:
        ctl.usage("gpt-4o-mini", input_tokens=1_000_000, output_tokens=500_000)
        ctl.usage("mystery", input_tokens=7, output_tokens=3)

    runner.register("Condense", work)
    try:
        for _ in range(2):
            runner.wait(runner.start("Condense", "me").id, timeout=10)
        found = samples(generate_latest(registry).decode())
        labels = {"job_type": "Condense", "model": "gpt-4o-mini", "direction": "input"}
        assert value(found, "jobdeck_llm_tokens_total", **labels) == 2_000_000
        assert value(found, "jobdeck_llm_tokens_total", **{**labels, "direction": "output"}) == 1_000_000
        assert value(found, "jobdeck_llm_tokens_total", **{**labels, "model": "mystery"}) == 14
        assert abs(value(found, "jobdeck_job_cost_total", job_type="Condense", currency="USD") - 0.9) < 1e-9
    finally:
        runner.shutdown(grace=2)
        store.close()
