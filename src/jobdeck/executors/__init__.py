"""Executors by URL: ``local://`` (the default), ``celery+redis://host:6379/0``, ``celery+amqp://user:pass@host//``,
``procrastinate+postgresql://host:5432/db``.

Engines are imported only when asked for, so Celery is needed only by those who use it; a missing extra is
named in the error (``pip install 'jobdeck[celery]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.errors import ExecutorError
from ..core.urls import redact_url
from .base import Executor
from .local import LocalExecutor

__all__ = ["ENGINES", "Executor", "LocalExecutor", "open_executor"]

# URL engine -> (module, class, the extra that installs the engine). The class offers ``from_url(url)``.
ENGINES: dict[str, tuple[str, str, str]] = {
    "celery": ("jobdeck.executors.celery", "CeleryExecutor", "celery"),
    "procrastinate": ("jobdeck.executors.procrastinate", "ProcrastinateExecutor", "procrastinate"),
}

EXAMPLES = ("local://", "celery+redis://host:6379/0", "celery+amqp://user:pass@host:5672//",
            "procrastinate+postgresql://host:5432/db")


def open_executor(url: str, **options: Any) -> Executor:
    """The executor a URL names; ``options`` go to its ``from_url``. One-line ExecutorError for an unknown
    engine or a missing extra."""
    if not isinstance(url, str) or "://" not in url:
        raise ExecutorError(f"executor URL {url!r} is not a URL; use one of: {', '.join(EXAMPLES)}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "local":
        return LocalExecutor()
    engine = scheme.partition("+")[0]
    found = ENGINES.get(engine)
    if found is None:
        raise ExecutorError(f"unknown executor {engine!r} in {redact_url(url)!r}; use one of: {', '.join(EXAMPLES)}")
    module_name, class_name, extra = found
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ExecutorError(f"the {engine} executor needs its extra: pip install 'jobdeck[{extra}]' ({exc})") from None
    cls = getattr(module, class_name)
    executor: Executor = cls.from_url(url, **options)
    return executor
