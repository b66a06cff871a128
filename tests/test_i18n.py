"""The message catalogs: every language has every key (with the same named values and plural forms), every key
the code asks for exists, and the pages and scripts carry no words outside the catalogs."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest

from jobdeck.api._locale import localize_page
from jobdeck.api._pages import NAV
from jobdeck.core.i18n import (
    DEFAULT_LOCALE,
    LOCALES_DIR,
    add_catalog,
    available_locales,
    catalog,
    localized,
    negotiate,
    translate,
)

SRC = Path(__file__).resolve().parent.parent / "src" / "jobdeck"
STATIC = SRC / "ui" / "static"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
CATALOGS = sorted(LOCALES_DIR.glob("*.json"))


def _load(path: Path) -> dict[str, object]:
    data = orjson.loads(path.read_bytes())
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


def _names(text: object) -> set[str]:
    texts = [text] if isinstance(text, str) else list(text.values())  # type: ignore[union-attr]
    return {name for t in texts for name in PLACEHOLDER.findall(t)}


def test_english_and_finnish_ship() -> None:
    assert {"en", "fi"} <= set(available_locales())
    assert next(iter(available_locales())) == "en"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.name)
def test_every_catalog_has_every_key_with_the_same_values(path: Path) -> None:
    english = _load(LOCALES_DIR / f"{DEFAULT_LOCALE}.json")
    other = _load(path)
    assert sorted(set(english) - set(other)) == [], f"{path.name} lacks these keys"
    assert sorted(set(other) - set(english)) == [], f"{path.name} has keys English does not"
    for key, text in other.items():
        assert isinstance(text, str) or (isinstance(text, dict) and isinstance(text.get("other"), str)), key
        assert isinstance(text, str) == isinstance(english[key], str), f"{key}: plural in one catalog only"
        assert _names(text) == _names(english[key]), f"{key}: names other values than English"
        assert str(text).strip(), f"{key} is empty"


def _used_keys() -> dict[str, str]:
    used: dict[str, str] = {}
    call = re.compile(r"""\bt\(\s*["'`]([a-z0-9_.-]+)["'`]""")
    for path in [*SRC.rglob("*.py"), *STATIC.glob("*.js")]:
        for key in call.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    for path in STATIC.glob("*.html"):
        for key in re.findall(r"\{\{t:([A-Za-z0-9_.-]+)\}\}", path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    for _path, key in NAV:
        used.setdefault(key, "_pages.py")
    return used


def test_every_key_the_code_uses_is_in_the_catalog() -> None:
    english = _load(LOCALES_DIR / f"{DEFAULT_LOCALE}.json")
    missing = {key: where for key, where in _used_keys().items() if key not in english}
    assert missing == {}


class _Words(HTMLParser):
    """The text and the worded attributes of a page, outside its scripts and styles."""

    SAID = ("aria-label", "title", "placeholder", "alt", "aria-description")

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        self.words += [value for name, value in attrs if name in self.SAID and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.words.append(data.strip())


@pytest.mark.parametrize("page", sorted(STATIC.glob("*.html")), ids=lambda p: p.name)
def test_pages_carry_no_words_outside_the_catalog(page: Path) -> None:
    parser = _Words()
    parser.feed(page.read_text(encoding="utf-8"))
    bare = [w for w in parser.words
            if re.search(r"[A-Za-z]{2}", re.sub(r"\{\{t:[A-Za-z0-9_.-]+\}\}", "", w)) and w != "jobdeck"]
    assert bare == []


# A string literal that reads as words: two words, or one capitalised word ("Cancel"). Lines that are not words
# for people (class lists, selectors, headers) say so with "i18n-ignore".
_LITERAL = re.compile(r""""([^"\\\n]*)"|'([^'\\\n]*)'|`([^`\\]*)`""")
_WORDY = re.compile(r"[A-Za-z]{2,}[ ,.…]+[A-Za-z]{2,}|^[A-Z][a-z]{2,}\b")
_KEY = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")
_NOT_WORDS = ("className", "classList", "querySelector", "import ", "i18n-ignore", "addEventListener",
              "createElement", "Content-Type", "getElementById", "dataset.", "console.")


def _wordy_literals(path: Path) -> list[str]:
    found: list[str] = []
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), path.read_text(encoding="utf-8"),
                  flags=re.S)
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0] if "//" in line and "://" not in line else line
        if any(mark in line for mark in _NOT_WORDS):
            continue
        for match in _LITERAL.finditer(code):
            literal = next(g for g in match.groups() if g is not None)
            if _KEY.match(literal):
                continue
            if _WORDY.search(re.sub(r"\$\{[^}]*\}", " ", literal)):
                found.append(f"{path.name}:{number}: {literal}")
    return found


@pytest.mark.parametrize("script", sorted(STATIC.glob("*.js")), ids=lambda p: p.name)
def test_scripts_show_no_words_outside_the_catalog(script: Path) -> None:
    assert _wordy_literals(script) == []


def test_a_browser_asking_for_finnish_gets_it_and_a_remembered_choice_wins() -> None:
    assert negotiate("fi-FI,fi;q=0.9,en;q=0.8") == "fi"
    assert negotiate("de-DE,fi;q=0.5,en;q=0.7") == "en"
    assert negotiate("sv,fi;q=0.4") == "fi"
    assert negotiate("fi", preferred="en") == "en"
    assert negotiate("fi", preferred="xx") == "fi"
    assert negotiate(None) == "en"
    assert negotiate("q=;;,,fi;q=abc, *") == "en"


def test_translate_fills_values_and_falls_back_to_english() -> None:
    assert translate("fi", "nav.jobs") == "Kaikki työt"
    assert translate("xx", "nav.jobs") == "All jobs"
    assert translate("en", "no.such.key") == "no.such.key"


def test_the_host_adds_its_own_words() -> None:
    add_catalog("fi", {"types.test_i18n_host.title": "Tuonti"})
    assert catalog("fi")["types.test_i18n_host.title"] == "Tuonti"
    assert "types.test_i18n_host.title" not in catalog("en")
    with pytest.raises(ValueError, match="language code"):
        add_catalog("finnish!", {})
    with pytest.raises(ValueError, match="catalog entries"):
        add_catalog("fi", {"x": 3})
    assert localized({"en": "Import", "fi": "Tuonti"}, "fi") == "Tuonti"
    assert localized({"en": "Import", "fi": "Tuonti"}, "sv") == "Import"
    assert localized("Import", "fi") == "Import"


def test_a_page_is_put_into_the_language_with_its_catalog_for_the_scripts() -> None:
    page = localize_page('<html lang="en"><head><title>{{t:login.title}}</title></head></html>', "fi")
    assert page.startswith('<html lang="fi">')
    assert "<title>jobdeck · kirjautuminen</title>" in page
    found = re.search(r'<script type="application/json" id="jobdeck-i18n">(.*?)</script>', page)
    assert found is not None
    data = orjson.loads(found.group(1))
    assert data["lang"] == "fi" and data["messages"]["nav.jobs"] == "Kaikki työt"


@pytest.mark.parametrize("sheet", sorted(STATIC.glob("*.css")), ids=lambda p: p.name)
def test_style_sheets_put_no_words_on_the_page(sheet: Path) -> None:
    # Words in CSS ``content`` cannot be translated; the page puts them in attributes (``content: attr(...)``).
    assert re.findall(r"""content:\s*["'][^"']*[A-Za-z]{2}""", sheet.read_text(encoding="utf-8")) == []
