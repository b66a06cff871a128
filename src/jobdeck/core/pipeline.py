"""Weighted operation trees: the arithmetic behind ``PipelineController``, with no I/O.

A pipeline is a list of operations, each with a weight; any operation may be split into weighted
sub-operations, to any depth. A node's progress is its own value if it is a leaf, else the weighted mean of
its children (or the value set on it directly, whichever is larger). Every node keeps the weighted sum of its
children's progress, so an update walks one path to the root: O(depth), not O(number of operations).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidArgumentError
from .model import OperationRef
from .operations import HiddenOperations, OperationNode, OperationTree

__all__ = ["MAX_SNAPSHOT_CHILDREN", "MAX_SNAPSHOT_DEPTH", "MAX_SNAPSHOT_NODES", "OperationSpec", "PipelineTree",
           "parse_specs"]

# The bounds of a published tree: a job that splits its work into 100,000 parts still writes a record of a few
# kilobytes with each progress flush. Nodes are taken level by level (the top levels always show), at most
# MAX_SNAPSHOT_CHILDREN per parent around its current part; what is left out is counted ("+N more, D done").
MAX_SNAPSHOT_NODES = 200
MAX_SNAPSHOT_DEPTH = 6
MAX_SNAPSHOT_CHILDREN = 50

OperationSpec = str | tuple[str, float] | dict[str, Any]


def parse_specs(specs: Iterable[OperationSpec]) -> list[tuple[str, float]]:
    """Accept ``"id"``, ``("id", weight)`` or ``{"id": ..., "weight": ...}``; weight defaults to 1."""
    if isinstance(specs, str | bytes | dict):
        raise InvalidArgumentError("operations must be a list of ids, (id, weight) pairs or {'id', 'weight'} dicts")
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for spec in specs:
        if isinstance(spec, str):
            op_id, weight = spec, 1.0
        elif isinstance(spec, tuple) and len(spec) == 2:
            op_id, weight = spec
        elif isinstance(spec, dict) and "id" in spec:
            op_id, weight = spec["id"], spec.get("weight", 1.0)
        else:
            raise InvalidArgumentError(
                f"bad operation {spec!r}: use 'id', ('id', weight) or {{'id': ..., 'weight': ...}}")
        if not isinstance(op_id, str) or not op_id or "/" in op_id:
            raise InvalidArgumentError(f"operation id must be a non-empty string without '/', got {op_id!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
            raise InvalidArgumentError(f"weight of operation {op_id!r} must be a positive number, got {weight!r}")
        if op_id in seen:
            raise InvalidArgumentError(f"operation id {op_id!r} appears twice")
        seen.add(op_id)
        out.append((op_id, float(weight)))
    if not out:
        raise InvalidArgumentError("a pipeline needs at least one operation")
    return out


@dataclass(eq=False, slots=True)
class _Node:
    id: str
    weight: float
    parent: _Node | None
    direct: float = 0.0  # value set on the node itself
    value: float = 0.0  # effective progress
    children: list[_Node] = field(default_factory=list)
    index: dict[str, _Node] = field(default_factory=dict)
    noted: bool = False  # counted among the finished operations already (see PipelineTree.take_finished)
    child_sum: float = 0.0  # sum of weight * value over children
    child_weight: float = 0.0
    current: int = 0  # index of the current child

    def path(self) -> str:
        parts = []
        node: _Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.id)
            node = node.parent
        return "/".join(reversed(parts))


class PipelineTree:
    """The operation tree of one job. Not thread-safe on its own: the controller serialises access."""

    def __init__(self, specs: Iterable[OperationSpec]) -> None:
        self.root = _Node("", 1.0, None)
        self._define(self.root, parse_specs(specs))
        # The fast path's memory: the leaf progress(v) lands on, and the current operation as last handed out.
        self._leaf: _Node | None = None
        self._ref: OperationRef | None = None
        self._ref_key: tuple[list[_Node], int] | None = None
        self._finished: list[str] = []  # paths of operations that reached 1 since take_finished()

    # -------------------------------------------------------------- structure

    @staticmethod
    def _define(node: _Node, specs: Sequence[tuple[str, float]]) -> None:
        node.children = [_Node(op_id, weight, node) for op_id, weight in specs]
        node.index = {c.id: c for c in node.children}
        node.child_weight = sum(w for _, w in specs)
        node.child_sum = 0.0
        node.current = 0

    def find(self, path: str) -> _Node:
        """The node at ``"op"`` or ``"op/sub/..."``; ValueError naming the known ids otherwise."""
        if not isinstance(path, str) or not path:
            raise InvalidArgumentError(f"operation id must be a non-empty string, got {path!r}")
        node = self.root
        for part in path.split("/"):
            child = node.index.get(part)
            if child is None:
                where = f" under {node.path()!r}" if node.parent is not None else ""
                known = ", ".join(node.index) or "none (define sub-operations first)"
                raise InvalidArgumentError(f"unknown operation {part!r}{where}; known: {known}")
            node = child
        return node

    def define_sub_operations(self, path: str, specs: Iterable[OperationSpec]) -> None:
        node = self.find(path)
        self._define(node, parse_specs(specs))
        self._leaf = None
        self._refresh(node)

    def _note(self, node: _Node | None) -> None:
        """Count ``node`` and its ancestors that reached 1 among the finished operations, each once."""
        while node is not None and node.parent is not None and node.value >= 1.0:
            if not node.noted:
                node.noted = True
                self._finished.append(node.path())
            node = node.parent

    def take_finished(self) -> list[str]:
        """The paths (``"op"``, ``"op/sub"``) of the operations that reached 1 since the last call, each once in
        the tree's life (a sub-operation defined anew counts again); the controller saves them as done."""
        finished, self._finished = self._finished, []
        return finished
    # -------------------------------------------------------------- progress

    @property
    def progress(self) -> float:
        return self.root.value

    def _refresh(self, node: _Node) -> None:
        """Recompute ``node.value`` and propagate the change up to the root."""
        while node is not None:
            old = node.value
            mean = node.child_sum / node.child_weight if node.children else 0.0
            node.value = min(1.0, max(node.direct, mean)) if node.children else node.direct
            parent = node.parent
            if parent is None:
                return
            parent.child_sum += node.weight * (node.value - old)
            node = parent

    def set(self, path: str | _Node, value: float) -> None:
        """Set an operation's progress; reaching 1 advances its parent's current operation past it."""
        node = self.find(path) if isinstance(path, str) else path
        self._leaf = None
        node.direct = value
        if value >= 1.0 and node.children:
            for child in node.children:  # a finished operation has finished all its parts
                if child.value < 1.0:
                    self.set(child, 1.0)
        self._refresh(node)
        if node.value >= 1.0:
            self._note(node)
            self._advance(node.parent)

    def progress_current(self, value: float) -> bool:
        """Set the progress of the current operation, followed down to its deepest current part (what
        ``progress(v)`` does); True when that reached 1, i.e. the current operation may have moved on. Equal in
        effect to :meth:`set` on that operation's path (a randomised test holds the two to it), but O(depth) with
        no lookups: the leaf is remembered between calls."""
        leaf = self._leaf
        if leaf is None:
            leaf = self._leaf = self._current_leaf()
        if self._set_leaf(leaf, value):
            self._leaf = None
            return True
        return False

    def operation_ref(self) -> OperationRef | None:
        """The current top-level operation; the same object for as long as it is unchanged, so that a caller can
        tell "unchanged" by identity."""
        root = self.root
        key = self._ref_key
        if key is not None and key[0] is root.children and key[1] == root.current:
            return self._ref
        self._ref_key = (root.children, root.current)
        op = self.ref(root)
        ref = self._ref
        if op is None:
            self._ref = None
        elif ref is None or (ref.id, ref.index, ref.total) != (op["id"], op["index"], op["total"]):
            self._ref = OperationRef(op["id"], op["index"], op["total"])
        return self._ref

    def _set_leaf(self, node: _Node, value: float) -> bool:
        """:meth:`set` for an operation without sub-operations (the hot path of ``progress(v)``); True when it
        reached 1, i.e. the current operation may have moved on."""
        # _refresh() specialised: every ancestor has children, and comparisons instead of min()/max() calls.
        delta = node.weight * (value - node.value)
        node.direct = node.value = value
        parent = ancestor = node.parent
        while ancestor is not None:
            ancestor.child_sum += delta
            old = ancestor.value
            new = ancestor.child_sum / ancestor.child_weight
            direct = ancestor.direct  # never above 1
            new = 1.0 if new > 1.0 else direct if new < direct else new
            ancestor.value = new
            delta = ancestor.weight * (new - old)
            ancestor = ancestor.parent
        if value >= 1.0:
            self._note(node)
            self._advance(parent)
            return True
        return False

    def _advance(self, parent: _Node | None) -> None:
        while parent is not None:
            while parent.current < len(parent.children) - 1 and parent.children[parent.current].value >= 1.0:
                parent.current += 1
            parent = parent.parent

    def _current_leaf(self) -> _Node:
        """Follow current operations down to the deepest one: where ``progress(v)`` lands."""
        node = self.root
        while node.children:
            node = node.children[node.current]
        return node

    def next_operation(self) -> None:
        """Finish the current top-level operation and move to the next."""
        current = self.root.children[self.root.current]
        self.set(current, 1.0)
        self._leaf = None
        if self.root.current < len(self.root.children) - 1 and current is self.root.children[self.root.current]:
            self.root.current += 1

    # -------------------------------------------------------------- views

    @staticmethod
    def ref(node: _Node) -> dict[str, Any] | None:
        if not node.children:
            return None
        child = node.children[node.current]
        return {"id": child.id, "index": node.current + 1, "total": len(node.children)}

    def current_operation(self) -> dict[str, Any] | None:
        return self.ref(self.root)

    def current_sub_operation(self) -> dict[str, Any] | None:
        if not self.root.children:
            return None
        return self.ref(self.root.children[self.root.current])

    def operation_progress(self, path: str) -> float:
        """Progress of the operation at ``path`` (ValueError naming the known ids for an unknown one)."""
        return self.find(path).value

    def has_sub_operations(self, path: str) -> bool:
        return bool(self.find(path).children)

    def sub_operations(self, path: str) -> list[dict[str, Any]]:
        return [{"id": c.id, "weight": c.weight, "progress": c.value} for c in self.find(path).children]

    def snapshot(self, max_nodes: int = MAX_SNAPSHOT_NODES, max_depth: int = MAX_SNAPSHOT_DEPTH,
                 max_children: int = MAX_SNAPSHOT_CHILDREN) -> OperationTree:
        """The tree as plain immutable data, bounded: at most ``max_nodes`` operations, ``max_depth`` levels and
        ``max_children`` parts of one operation; the rest is summarised by :class:`HiddenOperations` entries.

        Level by level, so that the top levels always show; of a long list of parts, the window kept starts a
        little before the current one, so that what runs now and what comes next are visible."""
        windows: dict[int, tuple[int, int]] = {}  # id(node) -> the slice of its children shown
        left = max_nodes
        queue: deque[tuple[_Node, int]] = deque([(self.root, 0)])
        while queue and left > 0:
            node, depth = queue.popleft()
            count = len(node.children)
            if not count or depth >= max_depth:
                continue
            take = min(count, left, max_children)
            lo = max(0, min(node.current - take // 4, count - take))
            windows[id(node)] = (lo, lo + take)
            left -= take
            queue.extend((child, depth + 1) for child in node.children[lo:lo + take])

        def hidden(nodes: list[_Node]) -> HiddenOperations:
            return HiddenOperations(len(nodes), sum(1 for n in nodes if n.value >= 1.0))

        def build(node: _Node, on_path: bool) -> tuple[OperationNode | HiddenOperations, ...]:
            children = node.children
            if not children:
                return ()
            window = windows.get(id(node))
            if window is None:
                return (hidden(children),)
            lo, hi = window
            out: list[OperationNode | HiddenOperations] = [hidden(children[:lo])] if lo else []
            for i in range(lo, hi):
                child = children[i]
                current = on_path and i == node.current
                state = "done" if child.value >= 1.0 else "started" if current or child.value > 0.0 else "pending"
                out.append(OperationNode(child.id, round(child.value, 4), state, child.weight,
                                         build(child, current)))
            if hi < len(children):
                out.append(hidden(children[hi:]))
            return tuple(out)

        return OperationTree(build(self.root, True))
