"""Job types for the tests of text that stores must take alike (NUL, long messages), loaded by ``jobdeck serve``
as ``tests.api.text_jobs:build`` and by the in-process tests with :func:`register`."""

from __future__ import annotations

from jobdeck import JobRunner, PipelineController, Store


def register(runner: JobRunner) -> None:
    """Plain (says a line, completes), Nul (says and raises text with U+0000), Remote (external: reports over HTTP)."""

    @runner.job("Plain", max_concurrent=1000)
    def plain(ctl: PipelineController) -> dict[str, bool]:
        ctl.info("plain work")
        ctl.progress(0.5)
        return {"ok": True}

    @runner.job("Nul", max_concurrent=1000)
    def nul(ctl: PipelineController) -> None:
        ctl.info("row \x00 read")
        raise RuntimeError("x\x00y")

    runner.register_external("Remote", max_concurrent=1000)


def build(store: Store) -> JobRunner:
    runner = JobRunner(store, abort_grace=5)
    register(runner)
    return runner
