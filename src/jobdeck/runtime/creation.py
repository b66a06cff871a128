"""Creating a job within ``start_timeout``: a store that does not answer makes a start fail fast, not hang.

A frozen server or a stalled pool would otherwise hold the request for as long as the store's own timeouts, ten
seconds and more. :func:`create_bounded` gives up with a StoreError (the API answers 503); the creation runs on
in its thread, and a job it makes after the caller gave up is failed at once, so that nothing runs that nobody
was told about.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from ..core.errors import JobdeckError, StoreError
from ..core.model import JobInfo
from ..stores.base import Store

__all__ = ["create_bounded"]

logger = logging.getLogger("jobdeck.runner")


class _Creation:
    """One job creation that :func:`create_bounded` runs in a thread of its own, and whether its caller stopped
    waiting for it (the job it creates too late must not run)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.job: JobInfo | None = None
        self.error: BaseException | None = None
        self.abandoned = False


def create_bounded(store: Store, timeout: float | None, create: Callable[[], JobInfo]) -> JobInfo:
    """``create()``, given up after ``timeout`` seconds with a StoreError when ``store`` does not answer (None,
    or a store whose calls never block: simply ``create()``)."""
    if timeout is None or not store.blocking:
        return create()
    creation = _Creation()
    context = contextvars.copy_context()  # the caller's trace context goes with the creation

    def run() -> None:
        try:
            job = context.run(create)
        except BaseException as exc:
            with creation.lock:
                creation.error = exc
                creation.done.set()
            return
        with creation.lock:
            creation.job, late = job, creation.abandoned
            creation.done.set()
        if late:
            try:
                store.fail_job(job.id, f"Job not started: the store created it after the start had given "
                                       f"up waiting ({timeout:g}s, start_timeout) and answered an error")
            except JobdeckError:
                logger.exception("could not fail job %s, created after its start gave up; the stale reaper "
                                 "will", job.id)
            logger.warning("job %s was created after its start gave up waiting for the store; failed", job.id)

    threading.Thread(target=run, name="jobdeck-start", daemon=True).start()
    if not creation.done.wait(timeout):
        with creation.lock:
            creation.abandoned = not creation.done.is_set()
        if creation.abandoned:
            raise StoreError(f"the store did not create the job within {timeout:g}s (start_timeout); nothing "
                             "was started, try again when the store answers")
    if creation.job is None:  # set with done when there was no error
        raise creation.error or JobdeckError("job creation ended without a job")
    return creation.job
