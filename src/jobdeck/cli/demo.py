"""Demo job types for ``jobdeck serve --demo``: realistic shapes, fake work.

    runner = JobRunner(store)
    register_demo(runner, speed=10)   # ten times faster than the default tens of seconds

- ``ArgumentCondensation``: the reference's question pipeline (data loading, one operation per question part
  such as ``question-q2-pros``, each with retrieval and condensation steps, saving), with info, warning and
  error messages. Its fake LLM provider throttles every run twice -- once with a ``Retry-After`` (the handler
  raises :class:`~jobdeck.RetryLater`), once without (a ``RateLimitError`` retried with backoff) -- and each
  attempt skips the question parts an earlier one finished (``ctl.is_done``), reading their output back
  (``ctl.save`` / ``ctl.saved``); the run completes on its third attempt. A run of 24 questions or more meets an
  outage three quarters of the way through (question 18 of 24) that outlasts its attempts, so it fails for good:
  Resume finishes it without paying for questions 1-17 again (the outage is over by then), Re-run starts over
  and meets it again.
- ``QuestionInfoGeneration``: a summary and key terms per question; completes. Its type's budget is $2.00: a run of
  16 questions or more gets the 80% warning, and one of 20 or more is stopped by its budget (``abortedBy``
  ``budget``) partway through question 20.

Both LLM types record (made-up) token use with ``ctl.usage()``, priced by :data:`DEMO_PRICES`, so that the
dashboard shows what each job and each operation cost; and both call their provider through one shared limit,
``demo-llm``, one call at a time (``ctl.limit``): run them together and one waits for the other's slot (its
current operation says so, and ``GET /limits`` shows the waiter).
- ``DataImport``: reads and imports rows, warns about skipped ones, then fails with an exception midway.
- ``Cleanup``: a few seconds of housekeeping; completes with a result. The schedule ``cleanup-every-10-min`` starts
  one every 10 minutes of real time (``schedule=False``, ``--no-demo-schedule``: none).

``jobdeck serve --demo`` on an empty store also starts :data:`FIRST_RUN` (:func:`start_first_run_jobs`): one job
of each outcome, so that the first screen has something to show (``--no-demo-jobs`` leaves them out).

Their titles, descriptions and parameter labels are in English and Finnish (:data:`DEMO_FINNISH`), so that the
Finnish dashboard shows the demo in Finnish.

Every pause checks for an abort, so each of them stops within a fraction of a second when asked.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Annotated, Any

from ..core.budget import Budget
from ..core.errors import InvalidArgumentError, RetryLater
from ..core.i18n import add_catalog
from ..core.params import Param
from ..core.retry import Retry
from ..runtime.controller import PipelineController
from ..runtime.runner import JobRunner

__all__ = ["DEMO_FINNISH", "DEMO_PRICES", "DEMO_SCHEDULE", "DEMO_TYPES", "FIRST_RUN", "OUTAGE_FROM",
           "ProviderError", "ProviderUnavailableError", "RateLimitError", "register_demo", "start_first_run_jobs"]

#: The demo's price table (dollars per million tokens), made up: the runner's own prices take precedence.
DEMO_PRICES = {"demo-mini": {"input": 0.15, "output": 0.60}, "demo-large": {"input": 2.50, "output": 10.00}}

DEMO_TYPES = ("ArgumentCondensation", "QuestionInfoGeneration", "DataImport", "Cleanup")
DEMO_SCHEDULE = "cleanup-every-10-min"  # the demo's schedule: a Cleanup every 10 minutes (``schedule=False``: none)
OUTAGE_FROM = 24  # a condensation run of this many questions or more meets an outage that outlasts its attempts
LLM_LIMIT = "demo-llm"  # the shared limit of the demo's provider: one call at a time, across every job
RETRY_AFTER = 12.0  # seconds, before the demo speed: the provider's Retry-After on its first 429
BACKOFF = 10.0  # seconds, before the demo speed: the first pause of the backoff (then 20, ...)


class ProviderError(Exception):
    """What the demo's fake LLM provider raises: transient, so the condensation type retries it."""


class RateLimitError(ProviderError):
    """429 Too Many Requests, without a Retry-After: the retry waits for the backoff."""


class ProviderUnavailableError(ProviderError):
    """503 Service Unavailable: the provider is down."""


def _count(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


class _Clock:
    """Abort-aware pauses, scaled by the demo speed."""

    def __init__(self, ctl: PipelineController, speed: float) -> None:
        self.ctl = ctl
        self.speed = speed

    def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds / self.speed
        while True:
            self.ctl.check_abort()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

    def steps(self, count: int, seconds: float) -> None:
        """Advance the current operation to 1 in ``count`` steps over ``seconds``."""
        for step in range(1, count + 1):
            self.pause(seconds / count)
            self.ctl.progress(step / count)


class _Provider:
    """The condensation's fake LLM provider. What it did to a job is kept in the job's saved values, so that
    every attempt (and a resumed job, which starts with a copy of them) meets the same provider:

    - it throttles each run twice: first with a ``Retry-After`` at ``throttle_at[0]``, then without one at
      ``throttle_at[1]`` (``provider.throttled`` counts them);
    - at ``down_at`` it is down for every attempt of the job that met the outage (``provider.outage`` names that
      job); a job resumed from it finds it back, as it would be by the time a person pressed Resume.
    """

    def __init__(self, ctl: PipelineController, speed: float, throttle_at: tuple[str, str],
                 down_at: str | None) -> None:
        self.ctl = ctl
        self.speed = speed
        self.throttle_at = throttle_at
        self.down_at = down_at

    def call(self, part: str) -> None:
        ctl = self.ctl
        if part == self.down_at and ctl.saved("provider.outage", ctl.job_id) == ctl.job_id:
            ctl.save("provider.outage", ctl.job_id)
            raise ProviderUnavailableError("503 Service Unavailable: the LLM provider is down")
        throttled = ctl.saved("provider.throttled", 0)
        if throttled == 0 and part == self.throttle_at[0]:
            ctl.save("provider.throttled", 1)
            wait = RETRY_AFTER / self.speed
            raise RetryLater(wait, f"429 Too Many Requests from the LLM provider (Retry-After: {wait:g} s)")
        if throttled == 1 and part == self.throttle_at[1]:
            ctl.save("provider.throttled", 2)
            raise RateLimitError("429 Too Many Requests from the LLM provider")


def register_demo(runner: JobRunner, speed: float = 1.0, *, schedule: bool = True) -> None:
    """Register the demo job types on ``runner``; ``speed`` > 1 makes them proportionally faster."""
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not speed > 0:
        raise InvalidArgumentError(f"speed must be a positive number, got {speed!r}")
    runner.prices = {**DEMO_PRICES, **(runner.prices or {})}

    def argument_condensation(ctl: PipelineController, questions: Annotated[int, Param(
            ge=1, le=50, description="How many questions to condense, each with a pros and a cons part.")] = 6,
            ) -> dict[str, Any]:
        count = _count(questions, "questions", 1, 50)
        clock = _Clock(ctl, speed)
        ids = [f"q{i}" for i in range(1, count + 1)]
        # The reference's shape: one operation per question part (question-q1-pros, question-q1-cons, ...),
        # each split into weighted steps, between loading and saving.
        parts = [f"question-{q}-{side}" for q in ids for side in ("pros", "cons")]
        ctl.initialize_pipeline([("data-loading", 2), *[(part, 4) for part in parts], ("saving", 1)])
        # Throttled two thirds of the way through, then at the last part: late enough that a run is well under way.
        # A long run's outage comes three quarters of the way through: question 18 of 24.
        provider = _Provider(ctl, speed, throttle_at=(parts[math.ceil(len(parts) * 2 / 3) - 1], parts[-1]),
                             down_at=f"question-q{math.ceil(count * 3 / 4)}-pros" if count >= OUTAGE_FROM else None)
        done = sum(ctl.is_done(part) for part in parts)
        if ctl.is_done("data-loading"):
            ctl.info(f"Resuming: {done} of {len(parts)} question parts were condensed by an earlier attempt")
        else:
            ctl.info("Loading questions and comments")
            clock.steps(6, 3.0)
            ctl.info(f"Loaded {count} questions with {count * 37} comments")
        for number, q in enumerate(ids, start=1):
            for side in ("pros", "cons"):
                part = f"question-{q}-{side}"
                if ctl.is_done(part):
                    continue  # condensed by an earlier attempt: its output is saved, and it was paid for
                ctl.define_sub_operations(part, [("retrieval", 1), ("condensation", 3)])
                ctl.info(f"Condensing {side} arguments for question {q}")
                if not ctl.is_done(f"{part}/retrieval"):
                    clock.steps(2, 0.5)  # retrieval: progress() follows the current step
                provider.call(part)  # may raise: the run's attempt ends here, and the next one starts here
                ctl.usage("demo-mini", input_tokens=4_000 + 37 * number, output_tokens=600 + 11 * number, requests=1)
                with ctl.limit(LLM_LIMIT, concurrency=1):
                    clock.steps(3, 1.5)
                ctl.save(f"condensed:{part}", {"arguments": [f"{q} {side} argument {i}" for i in (1, 2, 3)]})
                if number % 3 == 2 and side == "cons":
                    ctl.warning(f"Low confidence in the condensed cons of {q}: only 3 comments disagree")
                if number % 4 == 0 and side == "pros":
                    ctl.error(f"Comment {4700 + number} of {q} could not be read (invalid UTF-8) and is left out")
        ctl.info("Saving condensed arguments")
        clock.steps(4, 1.5)
        arguments = sum(len(ctl.saved(f"condensed:{part}", {"arguments": []})["arguments"]) for part in parts)
        return {"questions": count, "arguments": arguments}

    def question_info_generation(ctl: PipelineController, questions: Annotated[int, Param(
            ge=1, le=50, description="How many questions get a summary and key terms.")] = 4,
            ) -> dict[str, Any]:
        count = _count(questions, "questions", 1, 50)
        clock = _Clock(ctl, speed)
        ctl.initialize_pipeline(["fetching", ("generation", 6), "storing"])
        ctl.info("Fetching questions")
        clock.steps(4, 2.0)
        ids = [f"q{i}" for i in range(1, count + 1)]
        ctl.define_sub_operations("generation", [f"{q}-{part}" for q in ids for part in ("summary", "terms")])
        for q in ids:
            for part in ("summary", "terms"):
                ctl.info(f"Generating {part} for question {q}")
                # Recorded while the part is current (once it reaches 1 the next one is): $0.051 a part.
                ctl.usage("demo-large", input_tokens=12_400, output_tokens=2_000, requests=1)
                with ctl.limit(LLM_LIMIT, concurrency=1):
                    clock.steps(3, 2.0)
        if count > 2:
            ctl.warning(f"Question q{count} has no description; its summary uses the title only")
        clock.steps(2, 1.0)
        return {"questions": count}

    def data_import(
        ctl: PipelineController,
        rows: Annotated[int, Param(ge=10, le=1_000_000, description="Rows in the CSV file to import.")] = 400,
        fail_at: Annotated[float, Param(gt=0, le=1, description="Where the malformed row is, as a fraction "
                                                                 "of the rows (the demo always fails).")] = 0.6,
    ) -> None:
        total = _count(rows, "rows", 10, 1_000_000)
        if isinstance(fail_at, bool) or not isinstance(fail_at, int | float) or not 0 < fail_at <= 1:
            raise InvalidArgumentError(f"fail_at must be a fraction between 0 and 1, got {fail_at!r}")
        clock = _Clock(ctl, speed)
        ctl.initialize_pipeline(["reading", ("importing", 4)])
        ctl.info(f"Reading {total} rows from import.csv")
        clock.steps(4, 2.0)
        failing_row = max(1, int(total * fail_at))
        chunk = max(1, total // 20)
        for done in range(chunk, total + chunk, chunk):
            clock.pause(1.0)
            if done >= failing_row:
                raise ValueError(f"row {failing_row}: malformed date '31/02/2026' in column 'published'")
            if done % (chunk * 5) == 0:
                ctl.warning(f"Skipped row {done - 3}: duplicate id")
            ctl.progress(done / total)
        ctl.info("Import finished")

    def cleanup(ctl: PipelineController, days: Annotated[int, Param(
            ge=1, le=3650, description="Remove drafts older than this many days.")] = 30) -> dict[str, Any]:
        age = _count(days, "days", 1, 3650)
        clock = _Clock(ctl, speed)
        ctl.info(f"Removing drafts older than {age} days")
        clock.steps(8, 4.0)
        ctl.info("Removed 17 drafts")
        return {"removed": 17}

    # No jitter: a newcomer watching the demo sees the pauses the docs describe (10 s, then 20 s, at speed 1).
    runner.register("ArgumentCondensation", argument_condensation,
                    title={"en": "Argument condensation", "fi": "Argumenttien tiivistys"},
                    description={
                        "en": "Condense the pros and cons of each question's comments (demo: the provider "
                              "throttles each run twice, and from 24 questions on an outage outlasts its "
                              "attempts: the run fails and can be resumed).",
                        "fi": "Tiivistää kunkin kysymyksen kommenteista puolesta- ja vastaan-argumentit (demo: "
                              "palveluntarjoaja rajoittaa jokaista ajoa kahdesti, ja 24 kysymyksestä alkaen "
                              "katkos kestää yrityksiä pidempään: ajo epäonnistuu, ja sitä voi jatkaa)."},
                    timeout=3600, params={"questions": 6},
                    retry=Retry(attempts=3, backoff=BACKOFF / speed, max_backoff=6 * BACKOFF / speed, jitter=False,
                                on=(ProviderError,)))
    runner.register("QuestionInfoGeneration", question_info_generation,
                    title={"en": "Question info generation", "fi": "Kysymystietojen luonti"},
                    description={"en": "Generate a summary and key terms for each question (demo).",
                                 "fi": "Luo kullekin kysymykselle tiivistelmän ja avainsanat (demo)."},
                    timeout=3600, params={"questions": 4}, budget=Budget(cost=2.00), max_budget=Budget(cost=20.00))
    runner.register("DataImport", data_import, title={"en": "Data import", "fi": "Tietojen tuonti"},
                    description={"en": "Import rows from a CSV file; fails on a malformed row (demo).",
                                 "fi": "Tuo rivit CSV-tiedostosta; epäonnistuu virheelliseen riviin (demo)."},
                    params={"rows": 400, "fail_at": 0.6})
    runner.register("Cleanup", cleanup, title={"en": "Cleanup", "fi": "Siivous"}, max_concurrent=2,
                    description={"en": "Remove old drafts; takes a few seconds (demo).",
                                 "fi": "Poistaa vanhat luonnokset; kestää muutaman sekunnin (demo)."},
                    params={"days": 30})
    # The parameters' labels and help in Finnish, the way a host supplies them: a catalog of its own.
    add_catalog("fi", DEMO_FINNISH)
    if schedule:
        # In real time whatever the demo speed: the Schedules page shows it coming, and it fires while one watches.
        runner.schedule(DEMO_SCHEDULE, "Cleanup", every=timedelta(minutes=10), params={"days": 30})


#: The demo's parameter labels and help in Finnish (its titles and descriptions are given at registration).
DEMO_FINNISH = {
    "types.ArgumentCondensation.params.questions": "Kysymyksiä",
    "types.ArgumentCondensation.params.questions.description":
        "Montako kysymystä tiivistetään; kullakin on puolesta- ja vastaan-osa.",
    "types.QuestionInfoGeneration.params.questions": "Kysymyksiä",
    "types.QuestionInfoGeneration.params.questions.description":
        "Montako kysymystä saa tiivistelmän ja avainsanat.",
    "types.DataImport.params.rows": "Rivejä",
    "types.DataImport.params.rows.description": "Tuotavan CSV-tiedoston rivien määrä.",
    "types.DataImport.params.fail_at": "Virheellisen rivin kohta",
    "types.DataImport.params.fail_at.description":
        "Missä kohtaa virheellinen rivi on, osuutena riveistä (demo epäonnistuu aina).",
    "types.Cleanup.params.days": "Päiviä",
    "types.Cleanup.params.days.description": "Poistaa tätä useamman päivän ikäiset luonnokset.",
}

# The first run's jobs: one that runs for a while (and retries on its way), one that completes within seconds and
# one that fails, so that the first screen shows a live job, a result and a failure rather than forms and zeros.
FIRST_RUN: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ArgumentCondensation", {"questions": 12}),
    ("Cleanup", {"days": 30}),
    ("DataImport", {"rows": 40, "fail_at": 0.5}),
)


def start_first_run_jobs(runner: JobRunner, author: str = "demo") -> list[str]:
    """Start :data:`FIRST_RUN` when the store holds no job at all (a first run; a restart on a kept store adds
    nothing); their ids, or ``[]``."""
    if any(runner.store.stats().values()):
        return []
    return [runner.start(job_type, author, params).id for job_type, params in FIRST_RUN]
