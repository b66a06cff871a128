"""The tree's fast path (``progress_current``, what ``progress(v)`` does) and its general path (``set`` on the
current operation's path) must agree: random pipelines, random calls, the same progress after every step."""

from __future__ import annotations

import random

import pytest

from jobdeck.core.pipeline import PipelineTree


def current_path(tree: PipelineTree) -> str:
    parts, node = [], tree.root
    while node.children:
        node = node.children[node.current]
        parts.append(node.id)
    return "/".join(parts)


def random_specs(rng: random.Random, depth: int, prefix: str) -> list[tuple[str, float]]:
    return [(f"{prefix}{i}", rng.choice([0.5, 1.0, 2.0, 3.5])) for i in range(rng.randint(1, 4 if depth else 3))]


@pytest.mark.parametrize("seed", range(40))
def test_fast_and_general_paths_give_the_same_progress(seed: int) -> None:
    rng = random.Random(seed)
    specs = random_specs(rng, 1, "op")
    fast, general = PipelineTree(specs), PipelineTree(specs)
    for op_id, _ in specs:  # split some operations, one or two levels deep, the same way in both trees
        if rng.random() < 0.6:
            subs = random_specs(rng, 0, "s")
            fast.define_sub_operations(op_id, subs)
            general.define_sub_operations(op_id, subs)
            if rng.random() < 0.4:
                deeper = random_specs(rng, 0, "t")
                fast.define_sub_operations(f"{op_id}/{subs[0][0]}", deeper)
                general.define_sub_operations(f"{op_id}/{subs[0][0]}", deeper)
    for step in range(200):
        roll = rng.random()
        if roll < 0.8:
            value = rng.choice([0.0, 0.25, 0.5, 0.9, 1.0, rng.random()])
            path = current_path(general)
            moved = fast.progress_current(value)
            general.set(path, value)
            assert moved == (value >= 1.0)
        elif roll < 0.9:
            fast.next_operation()
            general.next_operation()
        else:  # a direct update of any operation between fast calls: the fast path must notice
            path = rng.choice([op for op, _ in specs])
            value = rng.random()
            fast.set(path, value)
            general.set(path, value)
        assert fast.progress == pytest.approx(general.progress, abs=1e-9), f"step {step}"
        assert current_path(fast) == current_path(general), f"step {step}"
        ref = fast.operation_ref()
        expected = general.current_operation()
        assert (ref.id, ref.index, ref.total) == (expected["id"], expected["index"], expected["total"])
        assert fast.operation_ref() is ref  # unchanged: the very same object


def test_controller_no_longer_reaches_into_the_tree() -> None:
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "src" / "jobdeck" / "runtime" / "controller.py").read_text()
    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)}
    assert "_Node" not in names and not {"set_leaf", "current_leaf", "children", "current", "root", "find"} & attributes
