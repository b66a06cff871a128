"""The Redis store's saved values (issue 21): one hash per job, ``P:saved:<id>``, key -> JSON text, and their total in
bytes, ``P:savedsize:<id>``, deleted with the job's other keys (``_redis_scripts._DROP``). A save is one Lua call
(``SAVE``) that checks the job's status and the bound and writes, never buffered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import redis

from ..core.errors import JobNotFoundError
from ._saved import Saving

__all__ = ["RedisSaved"]

_OUTCOMES = {0: Saving.FINISHED, 1: Saving.SAVED, 2: Saving.FULL}


class RedisSaved:
    """:class:`~jobdeck.stores._saved.SavedSteps` on a store's client, its ``SAVE`` script and its error wrapper."""

    def __init__(self, client: redis.Redis[Any], script: Any, prefix: str,
                 errors: Callable[[], AbstractContextManager[None]],
                 not_found: Callable[[str], JobNotFoundError]) -> None:
        self._redis, self._script, self._prefix = client, script, prefix
        self._errors, self._not_found = errors, not_found

    def _key(self, job_id: str) -> str:
        return f"{self._prefix}:saved:{job_id}"

    def save(self, job_id: str, texts: Mapping[str, str], limit: int) -> tuple[Saving, int]:
        with self._errors():
            code, total = self._script(keys=[f"{self._prefix}:job:{job_id}", self._key(job_id),
                                             f"{self._prefix}:savedsize:{job_id}"],
                                       args=[limit, *(x for pair in texts.items() for x in pair)])
        if code == -1:
            raise self._not_found(job_id)
        return _OUTCOMES[int(code)], int(total)

    def values(self, job_id: str) -> dict[str, str] | None:
        found = self._reply(job_id, "hgetall")
        return dict(found) if found is not None else None

    def keys(self, job_id: str) -> list[str] | None:
        found = self._reply(job_id, "hkeys")
        return list(found) if found is not None else None

    def _reply(self, job_id: str, command: str) -> Any:
        """The reply of ``command`` (HGETALL, HKEYS) on the job's saved values, or None if there is no such job
        (read in one MULTI with the job's existence: a job evicted in between is not mistaken for one without)."""
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.exists(f"{self._prefix}:job:{job_id}")
            getattr(pipe, command)(self._key(job_id))
            exists, found = pipe.execute()
        return found if exists else None
