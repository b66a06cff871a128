"""The Redis store's counts and failure groups, read off the keys ``_redis_index`` keeps, as a mixin: ``stats``
and ``past_summary``'s counts are one ``HGETALL`` of ``P:tally`` (O(job types x statuses)), failure groups one
script over ``P:fails`` (O(types x signatures), plus the newest ``ids`` of each) -- none of them looks at a job
that is not in its answer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from ..core.model import JobStatus
from ._failures import FailureGroup, FailureQuery
from ._redis_index import BUILD, FAILURES, VERSION
from ._summary import Counts

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["RedisCountSteps"]

_TERMINAL = frozenset(s.value for s in JobStatus if s.is_terminal)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCountSteps:
    """``stats``, ``_past_counts`` and ``_failure_groups`` from kept counts; ``_ensure_index`` builds them once."""

    _index_seen = False

    def _ensure_index(self) -> None:
        """Build the kept counts and indexes if this prefix has none yet (a store written by an older jobdeck):
        once per prefix, in one atomic script (``_redis_index.BUILD``). Remembered per store object once seen."""
        if self._index_seen:
            return
        store = cast("RedisStore", self)
        with store._errors():
            if not store._redis.hexists(store._set_key("tally"), "~v"):
                store._redis.register_script(BUILD)(
                    keys=[store._set_key("tally"), store._set_key("active"), store._set_key("past")],
                    args=[store.prefix, VERSION])
        self._index_seen = True

    def _tally(self) -> dict[str, dict[str, int]]:
        """status -> job type -> jobs (active and past)."""
        store = cast("RedisStore", self)
        store._catch_up()
        self._ensure_index()
        with store._errors():
            flat = store._redis.hgetall(store._set_key("tally"))
        out: dict[str, dict[str, int]] = {}
        for field, count in flat.items():
            status, sep, job_type = _text(field).partition(":")
            if sep and int(count) > 0:
                out.setdefault(status, {})[job_type] = int(count)
        return out

    def stats(self) -> dict[str, int]:
        counts = {s.value: 0 for s in JobStatus}
        for status, per_type in self._tally().items():
            if status in counts:
                counts[status] = sum(per_type.values())
        return counts

    def _past_counts(self) -> Counts:
        counts: Counts = {}
        for status, per_type in self._tally().items():
            if status not in _TERMINAL:
                continue
            for job_type, count in per_type.items():
                counts.setdefault(job_type, {})[JobStatus(status)] = count
        return counts

    def _failure_groups(self, query: FailureQuery) -> list[FailureGroup]:
        store = cast("RedisStore", self)
        store._catch_up()
        self._ensure_index()
        low = "-inf" if query.since is None else f"({query.since!r}"
        with store._errors():
            rows = store._redis.register_script(FAILURES)(
                keys=[store._set_key("fails")],
                args=[store.prefix, query.job_type or "", low, query.ids, "1" if query.job_type is not None else ""])
        groups: dict[str, FailureGroup] = {}
        newest: dict[str, list[tuple[float, str]]] = {}
        said: dict[str, tuple[float, str]] = {}
        for name, job_type, count, first, last, entries, message in rows:
            sig, last_seen = _text(name), float(last)
            group = groups.get(sig)
            if group is None:
                group = groups[sig] = FailureGroup(sig, 0, float(first), last_seen)
                newest[sig] = []
            group.count += int(count)
            group.first_seen = min(group.first_seen, float(first))
            group.last_seen = max(group.last_seen, last_seen)
            group.job_types.append(_text(job_type))
            newest[sig] += [(float(entries[i + 1]), _text(entries[i])) for i in range(0, len(entries), 2)]
            if message and (sig not in said or last_seen > said[sig][0]):
                said[sig] = (last_seen, json.loads(message)[0])
        ordered = sorted(groups.values(), key=lambda g: (-g.last_seen, g.signature))[:query.limit]
        for group in ordered:
            group.job_types.sort()
            # The past list's order: newest ended first, ties by id (as ZREVRANGEBYSCORE gives them).
            group.job_ids = [job_id for _, job_id in sorted(newest[group.signature], reverse=True)[:query.ids]]
            if group.signature in said:
                group.message = said[group.signature][1]
        return ordered

