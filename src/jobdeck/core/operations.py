"""A job's operation tree as published: plain, immutable data, bounded in size, with its JSON form.

``PipelineController`` publishes a snapshot of its tree (``PipelineTree.snapshot``) with its progress writes;
stores keep it beside the progress; the view of one job (``Store.require_job(id, operations=True)``,
``GET /single/{id}/progress``) reads it back; external jobs report it over HTTP, so every value is checked here.

JSON: a list of entries, each an operation ``{"id", "progress", "state", "weight"?, "children"?}`` (weight 1 and
no children are left out) or ``{"more": N, "done": D}``, N operations left out by the bounds, D of them done::

    [{"id": "load", "progress": 1.0, "state": "done"},
     {"id": "rows", "progress": 0.25, "state": "started", "weight": 3.0,
      "children": [{"id": "part-1", "progress": 0.5, "state": "started"}, {"more": 9, "done": 0}]}]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import InvalidArgumentError
from .usage import ModelUsage, Usage

__all__ = ["STATES", "HiddenOperations", "OperationNode", "OperationTree"]

#: pending (not started), started (under way, or the current one), done (progress 1)
STATES = frozenset({"pending", "started", "done"})


@dataclass(frozen=True, slots=True)
class HiddenOperations:
    """Operations a snapshot left out to stay small: ``count`` of them (their own parts not counted), ``done`` of
    which had finished. JSON: ``{"more": count, "done": done}``."""

    count: int
    done: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"more": self.count, "done": self.done}


@dataclass(frozen=True, slots=True)
class OperationNode:
    """One operation of a job's pipeline as last published: its progress, whether it is ``pending``, ``started``
    (or current) or ``done``, its weight among its siblings, and its parts (some may be :class:`HiddenOperations`).
    """

    id: str
    progress: float
    state: str = "pending"
    weight: float = 1.0
    children: tuple[OperationNode | HiddenOperations, ...] = ()
    usage: ModelUsage | None = None  # what was spent while this operation was current (its parts included)

    def to_dict(self) -> dict[str, Any]:
        # Defaults are left out: a snapshot of 200 operations is written with every flush of a job's progress.
        out: dict[str, Any] = {"id": self.id, "progress": self.progress, "state": self.state}
        if self.weight != 1.0:
            out["weight"] = self.weight
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        return out


def _entry_from_dict(data: Any) -> OperationNode | HiddenOperations:
    # Trees also arrive from external reporters over HTTP: every value is checked, each mistake named.
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"an operation is a JSON object, got {type(data).__name__}")
    if "more" in data:
        more, done = data["more"], data.get("done", 0)
        # JSON does not tell 2 from 2.0 (nor does JSON Schema's "integer"): a whole float is a count too.
        if any(isinstance(n, bool) or not isinstance(n, int | float) or n < 0
               or (isinstance(n, float) and not n.is_integer()) for n in (more, done)):  # inf is not whole
            raise InvalidArgumentError(f"'more' and 'done' are counts >= 0, got {more!r} and {done!r}")
        return HiddenOperations(int(more), int(done))
    op_id, progress = data.get("id"), data.get("progress")
    state, weight = data.get("state", "pending"), data.get("weight", 1.0)
    if not isinstance(op_id, str) or not op_id or len(op_id) > 200:
        raise InvalidArgumentError(f"operation id must be a string of 1 to 200 characters, got {op_id!r}")
    if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0.0 <= progress <= 1.0:
        raise InvalidArgumentError(f"progress of operation {op_id!r} must be a number from 0 to 1, got {progress!r}")
    if not isinstance(state, str) or state not in STATES:  # a list or an object is no state (nor hashable)
        raise InvalidArgumentError(f"state of operation {op_id!r} must be pending, started or done, got {state!r}")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 < weight < math.inf:
        raise InvalidArgumentError(f"weight of operation {op_id!r} must be a positive number, got {weight!r}")
    children = data.get("children") or []
    if not isinstance(children, list):
        raise InvalidArgumentError(f"children of operation {op_id!r} must be a list, got {type(children).__name__}")
    usage = data.get("usage")
    return OperationNode(op_id, float(progress), state, float(weight), tuple(_entry_from_dict(c) for c in children),
                         ModelUsage.from_dict(usage, f"usage of operation {op_id!r}") if usage is not None else None)


@dataclass(frozen=True, slots=True)
class OperationTree:
    """A bounded snapshot of a job's operation tree (see ``PipelineTree.snapshot``): immutable, so that copies
    of a job share it. JSON: the list of top-level entries.

    ``usage`` is the job's total use as its controller last published it: it travels to the store with the tree
    (the same coalesced write, see :mod:`jobdeck.core.usage`) and is stored beside it in the job's head; it is not
    part of the tree's JSON."""

    nodes: tuple[OperationNode | HiddenOperations, ...]
    usage: Usage | None = field(default=None, compare=False)

    def with_usage(self, usage: Usage, shares: Mapping[str, ModelUsage]) -> OperationTree:
        """This tree carrying ``usage``, each operation showing its share (``shares`` by path, ``"op/sub"``)."""
        def walk(entries: tuple[OperationNode | HiddenOperations, ...], prefix: str
                 ) -> tuple[OperationNode | HiddenOperations, ...]:
            out: list[OperationNode | HiddenOperations] = []
            for e in entries:
                if isinstance(e, OperationNode):
                    path = prefix + e.id
                    out.append(replace(e, children=walk(e.children, path + "/"), usage=shares.get(path, e.usage)))
                else:
                    out.append(e)
            return tuple(out)

        return OperationTree(walk(self.nodes, "") if shares else self.nodes, usage)

    def to_list(self) -> list[dict[str, Any]]:
        return [n.to_dict() for n in self.nodes]

    def to_json(self) -> str:
        return json.dumps(self.to_list(), separators=(",", ":"))

    @classmethod
    def from_list(cls, data: Any) -> OperationTree:
        if not isinstance(data, list):
            raise InvalidArgumentError(f"operations are a JSON list, got {type(data).__name__}")
        return cls(tuple(_entry_from_dict(d) for d in data))

    @classmethod
    def from_json(cls, text: str | bytes | None) -> OperationTree | None:
        """The stored form back (None stays None)."""
        return cls.from_list(json.loads(text)) if text else None

    def count(self) -> int:
        """Operations shown (hidden ones not counted)."""
        def walk(entries: tuple[OperationNode | HiddenOperations, ...]) -> int:
            return sum(1 + walk(e.children) for e in entries if isinstance(e, OperationNode))

        return walk(self.nodes)

    def check_bounds(self, max_entries: int, max_depth: int) -> OperationTree:
        """This tree, or InvalidArgumentError if it has more than ``max_entries`` entries (operations and
        ``more`` summaries) or more than ``max_depth`` levels: what a store accepts from a reporter."""
        entries, depth = 0, 0
        level = list(self.nodes)
        while level:
            depth += 1
            entries += len(level)
            if entries > max_entries or depth > max_depth:
                raise InvalidArgumentError(
                    f"an operation tree may hold at most {max_entries} entries in {max_depth} levels: send the "
                    "part around the current operation and count the rest as {\"more\": N, \"done\": D}")
            level = [c for e in level if isinstance(e, OperationNode) for c in e.children]
        return self
