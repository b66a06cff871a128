"""The memory store's saved values (issue 21): each job's values in a :class:`SavedTexts` (key -> JSON text, and
their total in UTF-8 bytes, kept by each save), in the store's ``_saved`` dictionary and under its lock; removed
with the job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._saved import Saving, text_bytes

if TYPE_CHECKING:
    from .memory import MemoryStore

__all__ = ["MemorySaved", "SavedTexts"]


class SavedTexts(dict[str, str]):
    """One job's saved values (key -> JSON text) and ``size``, their total in UTF-8 bytes, kept as they change."""

    size: int = 0


class MemorySaved:
    """:class:`~jobdeck.stores._saved.SavedSteps` of a memory store: its ``_saved`` dictionary, under its lock."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def save(self, job_id: str, texts: Mapping[str, str], limit: int) -> tuple[Saving, int]:
        with self._store._lock:
            job = self._store._jobs.get(job_id)
            if job is None:
                raise self._store._not_found(job_id)
            if job.status.is_terminal:
                return Saving.FINISHED, 0
            saved = self._store._saved.get(job_id) or SavedTexts()
            # The kept total, less what the incoming keys replace: a save costs its own keys, not the job's.
            total = saved.size - sum(text_bytes(saved[k]) for k in texts if k in saved)
            total += sum(text_bytes(v) for v in texts.values())
            if total > limit:
                return Saving.FULL, total
            saved.update(texts)
            saved.size = total
            self._store._saved[job_id] = saved
            return Saving.SAVED, total

    def values(self, job_id: str) -> dict[str, str] | None:
        with self._store._lock:
            if job_id not in self._store._jobs:
                return None
            return dict(self._store._saved.get(job_id, {}))

    def keys(self, job_id: str) -> list[str] | None:
        with self._store._lock:
            if job_id not in self._store._jobs:
                return None
            return list(self._store._saved.get(job_id, {}))
