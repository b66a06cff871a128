"""Imports point one way: core <- stores <- runtime/executors <- api/ui/client/cli; no private module is imported
from another package; a module over 450 lines says at its top why.

Every form of import counts, ``from .. import X`` and ``from jobdeck import X`` included: the package's front
module (``jobdeck/__init__.py``) re-exports every layer, so importing it from inside the package is a cycle
that only laziness would break; it is the layer above all (``FRONT``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "jobdeck"

# Lower number = lower layer; a module may import only from its own layer or below.
LAYERS = {
    "core": 0,                     # the domain: plain data, pure rules and package-wide helpers, no I/O
    "stores": 1,                   # where jobs live: one contract, one module per backend
    "runtime": 2, "executors": 2,  # the only code that drives state changes: controller, runner, supervision
    "api": 3, "ui": 3, "client": 3, "cli": 3,  # the ways in: HTTP, the dashboard, the client, the command line
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


def _package(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def test_no_private_module_is_imported_from_another_package() -> None:
    """``stores._search`` is the stores' own business: code outside ``stores`` reaches it only through what the
    package exports (or through a public module of the bottom layer)."""
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if not parts:
            continue
        module = ".".join(parts)
        for target in _imports(path, module):
            if _package(target) == _package(module):
                continue
            checked += 1
            private = [p for p in target.split(".") if p.startswith("_")]
            assert not private, f"{module} imports the private module {target} of another package"
    assert checked > 10


MAX_LINES = 450


def test_no_module_is_long_without_saying_why() -> None:
    """A module past MAX_LINES is asking to be split along a seam; one that stays whole says why at its top
    (a comment line starting with ``# Long:``)."""
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES:
            head = "\n".join(lines[:40])
            assert "# Long:" in head, f"{path.relative_to(PACKAGE)} has {len(lines)} lines and no '# Long:' reason"
