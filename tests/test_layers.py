"""Imports point one way: model <- stores <- controller/runner <- api/ui/client/cli."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "jobdeck"

# Lower number = lower layer; a module may import only from its own layer or below.
LAYERS = {
    "errors": 0, "_json": 0, "model": 0, "events": 0, "pipeline": 0, "params": 0,
    "stores": 1, "defaults": 1,
    "controller": 2, "runner": 2, "settings": 2, "demo": 2, "logcapture": 2, "tracing": 2,
    "api": 3, "ui": 3, "client": 3, "cli": 3,
}


def _layer(module: str) -> int | None:
    top = module.split(".", maxsplit=1)[0]
    return LAYERS.get(top)


def _imports(path: Path, module: str) -> list[str]:
    tree = ast.parse(path.read_text())
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("jobdeck."):
                target = node.module.removeprefix("jobdeck.")
            else:
                continue
            found.append(target)
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("jobdeck.") for a in node.names if a.name.startswith("jobdeck.")]
    return [t for t in found if t]


def test_no_module_imports_from_a_layer_above_it() -> None:
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if not parts:
            continue  # jobdeck/__init__.py re-exports everything by design
        module = ".".join(parts)
        own = _layer(module)
        assert own is not None, f"{module} is in no layer: add it to LAYERS"
        for target in _imports(path, module):
            theirs = _layer(target)
            if theirs is None:
                continue
            assert theirs <= own, f"{module} (layer {own}) imports {target} (layer {theirs})"
            checked += 1
    assert checked > 10
