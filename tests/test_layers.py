"""Imports point one way: model <- stores <- controller/runner <- api/ui/client/cli.

Every form of import counts, ``from .. import X`` and ``from jobdeck import X`` included: the package's front
module (``jobdeck/__init__.py``) re-exports every layer, so importing it from inside the package is a cycle
that only laziness would break; it is the layer above all (``FRONT``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "jobdeck"

# Lower number = lower layer; a module may import only from its own layer or below.
LAYERS = {
    "errors": 0, "_json": 0, "model": 0, "operations": 0, "events": 0, "pipeline": 0, "params": 0,
    "stores": 1, "defaults": 1,
    "controller": 2, "runner": 2, "jobtype": 2, "executors": 2, "settings": 2, "demo": 2, "logcapture": 2,
    "tracing": 2, "_supervision": 2, "metrics": 2,
    "api": 3, "ui": 3, "client": 3, "cli": 3,
    "_version": 0, "_backoff": 0,
}
FRONT = "jobdeck (the package's front module)"
LAYERS[FRONT] = 4


def _layer(module: str) -> int | None:
    top = module.split(".", maxsplit=1)[0]
    return LAYERS.get(top)


def _names(base: list[str], node: ast.ImportFrom) -> list[str]:
    """``from <base> import a, b``: each name that is a module of ``base``, else ``base`` itself (its front)."""
    out = []
    for alias in node.names:
        candidate = PACKAGE.joinpath(*base, alias.name)
        if candidate.is_dir() or candidate.with_suffix(".py").is_file():
            out.append(".".join([*base, alias.name]))
        else:
            out.append(".".join(base) or FRONT)
    return out


def _imports(path: Path, module: str) -> list[str]:
    tree = ast.parse(path.read_text())
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
            elif node.module is not None and (node.module == "jobdeck" or node.module.startswith("jobdeck.")):
                rest = node.module.removeprefix("jobdeck").removeprefix(".")
                found.extend([rest] if rest else _names([], node))
                continue
            else:
                continue
            if node.module:
                found.append(".".join([*base, node.module]))
            else:  # from . import X / from .. import X: X is a module, or a name of the package X is in
                found.extend(_names(base, node))
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
