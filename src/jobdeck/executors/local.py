"""The local executor: each job's handler runs in this process, in a thread of its own (today's behaviour).

Jobs are long and few, and a shared pool would leave a started job ``running`` in the store while it waits for a
free thread; so every job gets its own thread (async handlers share one event loop the runner owns).
"""

from __future__ import annotations

from typing import ClassVar

from ..core.jobtype import JobType
from ..core.model import JobInfo
from .base import Executor

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Runs handlers in the process that starts the job. The default; ``local://`` on the command line."""

    name: ClassVar[str] = "local"
    runs_in_process: ClassVar[bool] = True

    def submit(self, job: JobInfo, job_type: JobType) -> None:
        self.runner.execute(job, wait=False)
