"""The reference system's usage, end to end, in one process with the default (memory) store.

    python examples/question_pipeline.py

Runs three jobs through a JobRunner: one completes a two-level question pipeline, one fails, and one is
aborted by an admin while it works and stops at its next check_abort(). Then lists them as past jobs.
"""

from __future__ import annotations

import logging
import threading

import jobdeck
from jobdeck import JobRunner, PipelineController

QUESTIONS = {"q1": ["pros", "cons"], "q2": ["choice1-pros", "choice2-pros", "choice3-pros"]}
runner = JobRunner()  # uses jobdeck's default store
second_question_reached = threading.Event()


@runner.job("ArgumentCondensation", title="Argument condensation")
def condense(ctl: PipelineController, questions: dict[str, list[str]], slow: bool = False) -> dict[str, int]:
    # The pipeline is known only once the questions are: one operation per question, one sub-operation per part.
    ctl.initialize_pipeline([("data-loading", 1), *[(f"question-{q}", len(parts)) for q, parts in questions.items()]])
    for q, parts in questions.items():
        ctl.define_sub_operations(f"question-{q}", [f"{q}-{p}" for p in parts])
    ctl.update_sub_operation("data-loading", 1.0)  # the reference's two-argument form
    ctl.info("Data loaded")
    condensed = 0
    for q, parts in questions.items():
        ctl.info(f"Processing question {q}")
        for part in parts:
            if slow and q == "q2":
                second_question_reached.set()
                threading.Event().wait(0.05)
            ctl.check_abort()  # raises AbortError once an admin asked to stop
            ctl.update_sub_operation(f"question-{q}", f"{q}-{part}", 1.0)
            condensed += 1
        if q == "q1":
            ctl.warning("Low confidence in answer")
    return {"condensed": condensed}


@runner.job("QuestionInfoGeneration", title="Question info generation", max_concurrent=1)
def generate(ctl: PipelineController) -> None:
    ctl.progress(0.3)
    ctl.error("API rate limit exceeded")
    raise RuntimeError("LLM provider unavailable")


def main() -> None:
    # Job messages also go to Python logging (logger "jobdeck"); the runner logs a failed job's traceback.
    logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s")
    done = runner.start("ArgumentCondensation", "admin@example.com", {"questions": QUESTIONS})
    failed = runner.start("QuestionInfoGeneration", "admin@example.com")
    runner.wait(done.id, timeout=30)
    runner.wait(failed.id, timeout=30)

    aborted = runner.start("ArgumentCondensation", "admin@example.com", {"questions": QUESTIONS, "slow": True})
    second_question_reached.wait(30)
    progress = jobdeck.get_job(aborted.id)
    print(f"aborting {aborted.id[:8]} at {progress.progress:.0%}" if progress else "job vanished")
    jobdeck.get_default_store().request_abort(aborted.id, "admin changed their mind")
    runner.wait(aborted.id, timeout=30)

    for job in jobdeck.get_past_jobs():
        last = job.all_messages()[-1].message if job.all_messages() else ""
        print(f"{job.job_type:<24} {job.status.value:<10} progress={job.progress:.0%}  "
              f"result={job.result}  last: {last}")
    runner.shutdown()


if __name__ == "__main__":
    main()
