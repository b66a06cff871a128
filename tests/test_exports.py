"""The public surface is explicit: every name in __all__ exists, __all__ is sorted, errors share one root."""

from __future__ import annotations

import inspect

import jobdeck
from jobdeck.core import errors


def test_all_is_sorted_and_importable() -> None:
    assert list(jobdeck.__all__) == sorted(jobdeck.__all__)
    for name in jobdeck.__all__:
        assert getattr(jobdeck, name) is not None, name


def test_public_classes_live_in_jobdeck_itself() -> None:
    for name in ("MemoryStore", "SQLiteStore", "RedisStore", "PipelineController", "JobRunner", "JobInfo",
                 "JobMessage", "JobStatus", "JobdeckError", "AbortError", "JobNotFoundError", "Retry", "RetryLater"):
        assert name in jobdeck.__all__


def test_every_error_derives_from_the_root() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) >= 8
    for cls in classes:
        assert issubclass(cls, jobdeck.JobdeckError), cls
