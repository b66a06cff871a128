"""The runner is the top of the runtime: executors and the supervisor reach it through the protocols they declare
(``executors.base.Host``, ``runtime.supervision.Supervised``), so no module below it imports it, not even for
type checking."""

from __future__ import annotations

from tests.test_layers import PACKAGE, _imports

RUNNER = "runtime.runner"
# The layers above the runtime, which use the runner (the package's front module re-exports it).
ABOVE = ("api", "ui", "client", "cli")


def test_no_module_below_the_runner_imports_it() -> None:
    importers = []
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        parts = [p for p in path.relative_to(PACKAGE).with_suffix("").parts if p != "__init__"]
        if not parts or parts[0] in ABOVE or ".".join(parts) == RUNNER:
            continue
        checked += 1
        if RUNNER in _imports(path, ".".join(parts)):  # every import, TYPE_CHECKING blocks included
            importers.append(".".join(parts))
    assert checked > 20
    assert importers == []
