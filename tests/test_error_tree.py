"""The error module's docstring promises that every error jobdeck raises derives from ``JobdeckError``: no
``raise`` of a bare built-in exception anywhere in the package, except where it is caught on the spot (a
local control-flow signal) or is a demo job's own failure."""

from __future__ import annotations

import ast
from pathlib import Path

from jobdeck import InvalidArgumentError, JobdeckError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "jobdeck"
BUILTINS = {name for name in dir(__builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__)
            if name.endswith(("Error", "Exception"))} | {"Exception"}
# (module, exception) -> why it is not a jobdeck error
ALLOWED = {
    ("model.py", "ValueError"): "caught two lines below: parsing a cursor",
    ("jsoncodec.py", "ValueError"): "caught two lines below: the depth check joins the encoders' own errors",
    ("demo.py", "ValueError"): "the demo DataImport job's own failure (bad data), shown in the dashboard",
    ("settings.py", "TypeError"): "an unknown keyword argument: Python's own convention, as for any call",
}


def test_every_raise_is_a_jobdeck_error() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = target.id if isinstance(target, ast.Name) else None
            if name in BUILTINS and (path.name, name) not in ALLOWED:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} raises {name}")
    assert found == [], "raise a JobdeckError subclass (InvalidArgumentError for bad arguments):\n" + "\n".join(found)


def test_invalid_arguments_are_still_value_errors() -> None:
    error = InvalidArgumentError("limit must be positive", "limit")
    assert isinstance(error, JobdeckError) and isinstance(error, ValueError) and error.argument == "limit"
