"""The dashboard's page names every module its script imports as a ``modulepreload``, so that the browser fetches
them all at once instead of one import level after another (three levels: a few round trips before the cards)."""

from __future__ import annotations

import re

from jobdeck.ui import static_dir

_IMPORT = re.compile(r'^\s*(?:import|export)\b[^;]*?\bfrom\s+"\./([\w-]+\.js)"', re.M | re.S)


def imported(module: str, seen: set[str] | None = None) -> set[str]:
    """Every module ``module`` imports, directly or not."""
    seen = set() if seen is None else seen
    for name in _IMPORT.findall((static_dir() / module).read_text(encoding="utf-8")):
        if name not in seen:
            seen.add(name)
            imported(name, seen)
    return seen


def test_index_preloads_every_module_the_dashboard_imports() -> None:
    page = (static_dir() / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="static/([\w-]+\.js)">', page))
    wanted = imported("app.js")
    assert {"state.js", "views.js", "cardtriage.js"} <= wanted  # the import scan works
    assert preloaded == wanted
