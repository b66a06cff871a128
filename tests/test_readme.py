"""The README and the pages under docs/: their examples run as written, their Python is Python, their links and
anchors lead somewhere, and the README stays a page a newcomer reads to the end."""

from __future__ import annotations

import ast
import os
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def example(first_line: str) -> tuple[Path, str]:
    """The one ```python block of the README or docs/*.md whose first line is ``first_line``, and its page."""
    found = [(page, textwrap.dedent(code)) for page in PAGES for _, lang, code in FENCE.findall(page.read_text())
             if lang == "python" and textwrap.dedent(code).startswith(first_line + "\n")]
    assert len(found) == 1, f"{len(found)} python examples start with {first_line!r}"
    return found[0]


def python_blocks() -> list[tuple[str, str]]:
    return [(f"{page.relative_to(ROOT)}:{n}", textwrap.dedent(code)) for page in PAGES
            for n, (_, lang, code) in enumerate(FENCE.findall(page.read_text()), 1) if lang == "python"]


def test_ten_line_example_runs_and_completes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page, code = example("from jobdeck import JobRunner, PipelineController, open_store")
    assert page == README
    monkeypatch.chdir(tmp_path)  # the example opens sqlite:///jobs.db in the working directory
    namespace: dict[str, object] = {}
    exec(compile(code, str(page), "exec"), namespace)
    runner, job = namespace["runner"], namespace["job"]
    try:
        done = runner.wait(job.id, timeout=30)  # type: ignore[attr-defined]
        assert done.status.value == "completed" and done.result == {"condensed": 2}
        assert os.path.exists(tmp_path / "jobs.db")
    finally:
        runner.shutdown()  # type: ignore[attr-defined]
        runner.store.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("where", "code"), python_blocks(), ids=[where for where, _ in python_blocks()])
def test_every_python_example_is_python(where: str, code: str) -> None:
    ast.parse(code, filename=where)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """docs/api.md's "In your own application", with docs/dashboard.md's declared parameters registered on its
    runner, served in process."""
    page, code = example("from fastapi import FastAPI")
    params_page, params_code = example("from typing import Annotated")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, str(page), "exec"), namespace)
    exec(compile(params_code, str(params_page), "exec"), namespace)
    runner = namespace["runner"]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(namespace["app"]),  # type: ignore[arg-type]
                                     base_url="http://testserver") as client:
            yield client
    finally:
        runner.shutdown()  # type: ignore[attr-defined]
        runner.store.close()  # type: ignore[attr-defined]


API = "/jobs/api/admin/jobs"  # where the embedding example mounts the API
ADA = {"Cookie": "demo-user=ada@example.com"}  # a user of the host application's own session


@pytest.mark.anyio
async def test_embedding_example_serves_the_api_with_the_hosts_own_users(embedded: httpx.AsyncClient) -> None:
    assert (await embedded.get(f"{API}/active")).status_code == 401
    listed = await embedded.get(f"{API}/active", headers=ADA)
    assert (listed.status_code, listed.json()) == (200, [])
    started = await embedded.post(f"{API}/start", json={"jobType": "Import", "params": {"rows": 5}}, headers=ADA)
    assert started.status_code == 201 and started.json()["author"] == "ada@example.com"


@pytest.mark.anyio
async def test_declared_parameters_are_refused_before_a_job_exists(embedded: httpx.AsyncClient) -> None:
    for params in ({"rows": 0}, {"rows": 50_001}, {"mode": "merge"}):
        refused = await embedded.post(f"{API}/start", json={"jobType": "Import", "params": params}, headers=ADA)
        assert refused.status_code == 400 and next(iter(params)) in refused.json()["error"], refused.text
    assert (await embedded.get(f"{API}/stats", headers=ADA)).json()["active"] == 0


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def test_every_link_and_anchor_of_the_docs_leads_somewhere() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_readme_fits_its_reader_and_leads_to_every_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    for command in ("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && jobdeck serve --demo",
                    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && bash scripts/check"):
        assert f"\n{command}\n" in text
    linked = {target.partition("#")[0] for target in LINK.findall(text)}
    assert {f"docs/{page.name}" for page in PAGES[1:]} <= linked


def docs_text() -> str:
    return "\n".join(page.read_text() for page in PAGES)


def test_every_option_of_every_command_is_documented() -> None:
    """docs/cli.md's own test checks the client commands there; this one also covers `serve` and `worker`, whose
    options live where they are explained (docs/operating.md, docs/scaling.md, ...)."""
    import argparse

    from jobdeck.cli import build_parser

    text = docs_text()
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"jobdeck {name} {option}" for name, parser in commands.choices.items() for action in parser._actions
               for option in action.option_strings
               if option.startswith("--") and option != "--help" and not re.search(rf"(?<![\w-]){option}\b", text)]
    assert missing == []


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    names = {name for module in (ROOT / "src" / "jobdeck").rglob("*.py")
             for name in re.findall(r"\bJOBDECK_[A-Z_]*[A-Z]\b", module.read_text())}
    assert names, "no JOBDECK_* names found in the source"
    assert sorted(name for name in names if not re.search(rf"\b{name}\b", docs_text())) == []
