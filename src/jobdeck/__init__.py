"""jobdeck: run, watch and stop long-running admin jobs.

The core (model, stores, controller, runner) needs only the standard library and orjson; the HTTP API, dashboard and CLI
are imported on first use so that ``import jobdeck`` stays light inside job code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.budget import Budget
from .core.errors import (
    AbortError,
    ClientError,
    EnqueueError,
    ExecutorError,
    InvalidArgumentError,
    JobConflictError,
    JobdeckError,
    JobFinishedError,
    JobNotFoundError,
    RetryLater,
    ScheduleConflictError,
    ScheduleNotFoundError,
    StoreError,
    UnknownJobTypeError,
)
from .core.events import EventBatch, EventType, JobEvent
from .core.i18n import add_catalog
from .core.model import JobInfo, JobMessage, JobStatus, MessageType, OperationRef, PastCursor
from .core.operations import OperationTree
from .core.retry import Retry
from .core.usage import Usage
from .core.version import __version__
from .executors import Executor, LocalExecutor, open_executor
from .runtime.controller import PipelineController
from .runtime.defaults import configure, create_job, get_active_jobs, get_default_store, get_job, get_past_jobs
from .runtime.runner import JobRunner, JobType
from .stores import MemoryStore, Store, open_store

if TYPE_CHECKING:
    from .api import create_app
    from .client import Client, RemoteController
    from .stores.postgres import PostgresStore
    from .stores.redis import RedisStore
    from .stores.sqlite import SQLiteStore


__all__ = [
    "AbortError",
    "Budget",
    "Client",
    "ClientError",
    "EnqueueError",
    "EventBatch",
    "EventType",
    "Executor",
    "ExecutorError",
    "InvalidArgumentError",
    "JobConflictError",
    "JobEvent",
    "JobFinishedError",
    "JobInfo",
    "JobMessage",
    "JobNotFoundError",
    "JobRunner",
    "JobStatus",
    "JobType",
    "JobdeckError",
    "LocalExecutor",
    "MemoryStore",
    "MessageType",
    "OperationRef",
    "OperationTree",
    "PastCursor",
    "PipelineController",
    "PostgresStore",
    "RedisStore",
    "RemoteController",
    "Retry",
    "RetryLater",
    "SQLiteStore",
    "ScheduleConflictError",
    "ScheduleNotFoundError",
    "Store",
    "StoreError",
    "UnknownJobTypeError",
    "Usage",
    "__version__",
    "add_catalog",
    "configure",
    "create_app",
    "create_job",
    "get_active_jobs",
    "get_default_store",
    "get_job",
    "get_past_jobs",
    "open_executor",
    "open_store",
]

_LAZY = {
    "create_app": ".api",
    "SQLiteStore": ".stores.sqlite",
    "RedisStore": ".stores.redis",
    "PostgresStore": ".stores.postgres",
    "Client": ".client",
    "RemoteController": ".client",
}


def __getattr__(name: str) -> Any:
    # Backends, the web app and the client pull in optional or heavier dependencies: import them on use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jobdeck' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
