"""The CLI speaks the operator's language: ``JOBDECK_LANG``, else ``LC_ALL``, ``LC_MESSAGES``, ``LANG``; English
otherwise. Run as the operator runs it (a subprocess against the session's demo server); ``--json`` stays data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobdeck import Client
from jobdeck.cli._lang import LANG_VARIABLES, cli_lang
from jobdeck.cli._schedules import relative_words
from tests.cli.conftest import FAILING, LONG, QUICK, Run
from tests.cli.server import ServerProcess
from tests.conftest import wait_for
from tests.serve_process import ServeProcess, clean_env, demo_args


def _env(server: ServerProcess, **language: str) -> dict[str, str]:
    """The server's environment with exactly ``language``'s variables among the language ones."""
    env = {k: v for k, v in server.env().items() if k not in LANG_VARIABLES}
    env.update(language)
    return env


def _started(stdout: str) -> str:
    return stdout.strip().splitlines()[0]


def test_jobdeck_lang_fi_prints_finnish(cli: Run, server: ServerProcess, client: Client) -> None:
    fi = _env(server, JOBDECK_LANG="fi", LANG="C.UTF-8")
    waited = cli("start", *QUICK, "--wait", env=fi)
    assert waited.returncode == 0, waited.stderr
    job_id = _started(waited.stdout)
    summary = waited.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"työ {job_id} (Cleanup) valmis ") and " (kesto " in summary, summary

    shown = cli("show", job_id, env=fi).stdout
    for words in ("tunnus", "tyyppi", "tila", "käynnistäjä", "edistyminen", "alkoi", "päättyi", "kesto",
                  "parametrit", "tulos", "viestit"):
        assert any(line.startswith(words + " ") for line in shown.splitlines()), (words, shown)
    assert "valmis" in shown and "info, 0 varoitusta, 0 virhettä" in shown

    past = cli("list", "--past", "--type", "Cleanup", "--limit", "3", env=fi).stdout
    header = past.splitlines()[0].split()
    assert header[:4] == ["TUNNUS", "TYYPPI", "TILA", "EDIST."] and "KESTO" in header, header
    assert "valmis" in past
    assert cli("list", "--status", "queued", env=fi).stdout.strip() == "ei aktiivisia töitä"

    long_id = _started(cli("start", *LONG, env=fi).stdout)
    aborted = cli("abort", long_id, "--reason", "testi", env=fi)
    assert aborted.stdout.strip() == f"Keskeytystä pyydetty työlle {long_id}", aborted.stdout
    ended = cli("abort", job_id, env=fi).stdout.strip()
    assert ended == f"Työ {job_id} on jo päättynyt tilaan valmis; keskeytettävää ei ole", ended

    workers = cli("workers", env=fi).stdout
    assert workers.split()[:2] == ["SUORITTAJA", "TILA"] and " sitten" in workers, workers


def test_lang_fi_fi_utf8_prints_finnish_and_jobdeck_lang_wins(cli: Run, server: ServerProcess,
                                                               client: Client) -> None:
    fi = _env(server, LANG="fi_FI.UTF-8")
    failed = cli("start", *FAILING, "--wait", env=fi)
    assert failed.returncode == 1
    assert " epäonnistui " in failed.stdout.splitlines()[-1]
    # The job's own error is the job's words, not translated.
    assert "malformed date" in failed.stdout.splitlines()[-1]

    missing = cli("show", "feedfacecafe", env=fi)
    assert missing.returncode == 5 and missing.stderr.startswith("jobdeck: virhe: ")
    usage = cli("abort", env=fi)
    assert usage.returncode == 7 and "anna joko työn tunnus tai --all" in usage.stderr

    types = cli("types", env=fi).stdout
    assert types.split()[:2] == ["TYYPPI", "NIMI"] and "Tietojen tuonti" in types  # the host's Finnish title
    listed = {t["jobType"]: t["title"] for t in json.loads(cli("types", "--json", env=fi).stdout)}
    assert listed["DataImport"] == "Data import"  # --json is the API's answer as it is

    english = cli("abort", env=_env(server, JOBDECK_LANG="en", LANG="fi_FI.UTF-8"))
    assert "give either a job ID or --all" in english.stderr
    posix = cli("abort", env=_env(server, LC_ALL="C", LANG="fi_FI.UTF-8"))  # LC_ALL comes before LANG
    assert "give either a job ID or --all" in posix.stderr
    messages = cli("abort", env=_env(server, LC_MESSAGES="fi_FI.UTF-8", LANG="en_GB.UTF-8"))
    assert "anna joko työn tunnus tai --all" in messages.stderr


def test_the_language_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LANG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert cli_lang() == "en"
    monkeypatch.setenv("LANG", "fi_FI.UTF-8@euro")
    assert cli_lang() == "fi"
    assert [relative_words(s) for s in (0.2, 30, -90, 4 * 3600, 3 * 86400)] == \
        ["nyt", "30 s päästä", "2 min sitten", "4 h päästä", "3 päivää päästä"]
    monkeypatch.setenv("LANG", "de_DE.UTF-8")  # not shipped: English
    assert cli_lang() == "en"
    monkeypatch.setenv("JOBDECK_LANG", "FI")
    assert cli_lang() == "fi"


def test_the_serve_banner_in_finnish(tmp_path: Path) -> None:
    env = clean_env(XDG_DATA_HOME=str(tmp_path), JOBDECK_LANG="fi")
    with ServeProcess(tmp_path, demo_args("memory://", 10), env=env, name="serve-fi") as server:
        banner = wait_for(lambda: "JOBDECK_TOKEN=" in server.output() and server.output(), what="the banner")
    assert f"jobdeck palvelee osoitteessa http://127.0.0.1:{server.port}" in banner
    for words in ("  tietovarasto: memory://", "  työtyypit: ArgumentCondensation", "  ajotapa: paikallinen",
                  "  avaa koontinäyttö (käyttöavain luotu tätä ajoa varten): "):
        assert words in banner, (words, banner)
