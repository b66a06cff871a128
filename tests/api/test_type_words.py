"""Job-type titles, descriptions and parameter labels in the viewer's language: given per language at
registration (``title={"en": ..., "fi": ...}``) or from the host's catalog (``jobdeck.add_catalog``), and served
by ``GET /types`` in the request's language (the ``jobdeck_lang`` cookie, else ``Accept-Language``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI

import jobdeck
from jobdeck import InvalidArgumentError, JobRunner, PipelineController
from jobdeck.api import create_app
from jobdeck.core.params import Param
from tests.api.conftest import AUTH, PREFIX, TOKEN

pytestmark = pytest.mark.anyio


def _import_rows(ctl: PipelineController, rows: Annotated[int, Param(ge=1, description="How many rows")] = 10,
                 dry_run: bool = False) -> None:
    ctl.info(f"{rows} rows")


@pytest.fixture
async def types_of(runner: JobRunner, make_client: Callable[[FastAPI], httpx.AsyncClient],
                   ) -> AsyncIterator[Callable[..., Any]]:
    async with make_client(create_app(runner=runner, token=TOKEN)) as client:

        async def types(language: str | None = None, cookie: str | None = None) -> dict[str, dict[str, Any]]:
            headers = dict(AUTH)
            if language:
                headers["Accept-Language"] = language
            if cookie:
                headers["Cookie"] = f"jobdeck_lang={cookie}"
            response = await client.get(f"{PREFIX}/types", headers=headers)
            assert response.status_code == 200
            return {t["jobType"]: t for t in response.json()}

        yield types


async def test_a_title_given_per_language_is_served_in_the_viewers_language(
        runner: JobRunner, types_of: Callable[..., Any]) -> None:
    runner.register("WordsImport", _import_rows, title={"en": "Import", "fi": "Tuonti"},
                    description={"en": "Imports rows.", "fi": "Tuo rivit."})
    assert runner.get_type("WordsImport").title == "Import"  # the default words are English
    finnish = (await types_of("fi-FI,fi;q=0.9,en;q=0.8"))["WordsImport"]
    assert (finnish["title"], finnish["description"]) == ("Tuonti", "Tuo rivit.")
    english = (await types_of("en-GB"))["WordsImport"]
    assert (english["title"], english["description"]) == ("Import", "Imports rows.")
    assert (await types_of())["WordsImport"]["title"] == "Import"
    assert (await types_of("fi", cookie="en"))["WordsImport"]["title"] == "Import"  # the switcher's choice wins
    # A plain string is the same in every language; a type without translations keeps its English words.
    assert (await types_of("fi"))["Quick"]["title"] == "Quick job"


async def test_the_hosts_catalog_translates_titles_and_parameter_labels(
        runner: JobRunner, types_of: Callable[..., Any]) -> None:
    runner.register("WordsCatalog", _import_rows, title="Import", description="Imports rows.")
    jobdeck.add_catalog("fi", {
        "types.WordsCatalog.title": "Tuonti",
        "types.WordsCatalog.description": "Tuo rivit.",
        "types.WordsCatalog.params.rows": "Rivejä",
        "types.WordsCatalog.params.rows.description": "Montako riviä tuodaan",
        "types.WordsCatalog.params.dry_run": "Koeajo",
    })
    finnish = (await types_of("fi"))["WordsCatalog"]
    assert (finnish["title"], finnish["description"]) == ("Tuonti", "Tuo rivit.")
    properties = finnish["paramsSchema"]["properties"]
    assert properties["rows"]["title"] == "Rivejä" and properties["rows"]["description"] == "Montako riviä tuodaan"
    assert properties["rows"]["minimum"] == 1 and properties["dry_run"]["title"] == "Koeajo"
    english = (await types_of("en"))["WordsCatalog"]
    assert (english["title"], english["description"]) == ("Import", "Imports rows.")
    assert english["paramsSchema"]["properties"]["rows"]["title"] == "Rows"  # the schema's own label
    assert english["paramsSchema"]["properties"]["rows"]["description"] == "How many rows"
    assert runner.get_type("WordsCatalog").schema["properties"]["rows"]["title"] == "Rows"  # not changed in place


async def test_an_external_type_keeps_its_translations(runner: JobRunner, types_of: Callable[..., Any]) -> None:
    runner.register_external("WordsRemote", title={"en": "Remote import", "fi": "Etätuonti"})
    assert (await types_of("fi"))["WordsRemote"]["title"] == "Etätuonti"
    assert (await types_of("sv"))["WordsRemote"]["title"] == "Remote import"


def test_a_title_by_language_must_be_words(runner: JobRunner) -> None:
    with pytest.raises(InvalidArgumentError, match="language codes to strings"):
        runner.register("WordsBad", _import_rows, title={"fi": 3})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match="language codes to strings"):
        runner.register("WordsBad", _import_rows, description={})
