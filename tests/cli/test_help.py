"""Every subcommand has help text, and every subcommand and exit code is documented in docs/cli.md."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from jobdeck.cli import build_parser
from jobdeck.cli._common import ExitCode
from tests.cli.conftest import run_cli
from tests.cli.server import clean_env

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_client_commands_exist() -> None:
    assert {"list", "show", "start", "abort", "watch", "types", "stats", "serve"} <= set(subcommands())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_subcommand_has_help_text(name: str) -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summary = {choice.dest: choice.help for choice in action._choices_actions}
    assert summary.get(name), f"'jobdeck {name}' has no one-line help in 'jobdeck --help'"
    result = run_cli(name, "--help", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: jobdeck {name}")
    assert result.stderr == ""


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_subcommand_is_documented(name: str) -> None:
    assert re.search(rf"^### `jobdeck {name}\b", DOCS.read_text(), re.MULTILINE), \
        f"docs/cli.md has no '### `jobdeck {name}' section"


def test_every_option_of_the_client_commands_is_documented() -> None:
    text = DOCS.read_text()
    missing = []
    for name, parser in subcommands().items():
        if name == "serve":
            continue  # documented with the server
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and f"`{option}" not in text:
                    missing.append(f"jobdeck {name} {option}")
    assert missing == []


def test_every_exit_code_is_documented() -> None:
    text = DOCS.read_text()
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \|", text, re.MULTILINE), f"exit code {code.value} ({code.name})"


def test_top_level_help_lists_the_commands() -> None:
    result = run_cli("--help", env=clean_env())
    assert result.returncode == 0
    for name in ("list", "show", "start", "abort", "watch"):
        assert name in result.stdout
