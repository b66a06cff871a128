"""The words jobdeck shows people, in their own language.

Every word the dashboard and the command line show comes from a message catalog: one JSON file a language in
``jobdeck/locales`` (``en.json``, ``fi.json``), a flat object of ``"key": "text"``. A text may name values in
braces (``"{count} jobs"``); a text that depends on a number is an object of plural forms by CLDR category
(``{"one": "{count} job", "other": "{count} jobs"}``; ``other`` always present). English is complete by
definition: a key another catalog lacks falls back to it, and the tests require every catalog to have every key.

The host application adds words of its own (its job types' titles and parameter labels) with
:func:`add_catalog`; these are looked up under ``types.<type>.title``, ``types.<type>.description``,
``types.<type>.params.<name>`` (a label) and ``types.<type>.params.<name>.description`` (its help) by
:class:`jobdeck.core.jobtype.JobType`.

What stays in the language it was written in: a job's own messages and errors, and the API's error details
(those are data, written by the job or for a program).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES_DIR",
    "Localized",
    "add_catalog",
    "available_locales",
    "catalog",
    "localized",
    "negotiate",
    "plural_category",
    "translate",
]

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LOCALE = "en"

# A text given in several languages by the host: one string (every language) or {"en": ..., "fi": ...}.
Localized = str | Mapping[str, str]

_CODE = re.compile(r"^[a-z]{2,3}$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_lock = threading.Lock()
_host: dict[str, dict[str, Any]] = {}


@cache
def _shipped(lang: str) -> dict[str, Any]:
    try:
        data = orjson.loads((LOCALES_DIR / f"{lang}.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


@cache
def available_locales() -> dict[str, str]:
    """The shipped languages: code -> the language's name in itself ("fi" -> "Suomi"), English first."""
    codes = sorted(p.stem for p in LOCALES_DIR.glob("*.json") if _CODE.match(p.stem))
    codes.sort(key=lambda code: code != DEFAULT_LOCALE)
    return {code: str(_shipped(code).get("language.name", code)) for code in codes}


def add_catalog(lang: str, messages: Mapping[str, Any]) -> None:
    """Add the host application's own words for ``lang`` (a language code such as ``"fi"``), e.g.
    ``{"types.import.title": "Tuonti", "types.import.params.dry_run": "Koeajo"}``. Later calls add to (and
    override) earlier ones; a key a shipped catalog has is overridden too."""
    code = str(lang).lower()
    if not _CODE.match(code):
        raise ValueError(f"a language code is two or three letters (such as 'fi'), got {lang!r}")
    checked: dict[str, Any] = {}
    for key, text in messages.items():
        if not isinstance(key, str) or not (isinstance(text, str) or _is_plural(text)):
            raise ValueError(f"catalog entries are 'key': 'text' (or plural forms with 'other'), got {key!r}")
        checked[key] = text if isinstance(text, str) else dict(text)
    with _lock:
        _host.setdefault(code, {}).update(checked)
        catalog.cache_clear()


def _is_plural(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("other"), str) \
        and all(isinstance(v, str) for v in value.values())


@cache
def catalog(lang: str) -> dict[str, Any]:
    """Every message for ``lang``: English, then the language's own catalog, then the host's additions."""
    merged: dict[str, Any] = dict(_shipped(DEFAULT_LOCALE))
    merged.update(_host.get(DEFAULT_LOCALE, {}))
    if lang != DEFAULT_LOCALE:
        merged.update(_shipped(lang))
        merged.update(_host.get(lang, {}))
    return merged


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The language to speak: ``preferred`` (a remembered choice) when it is shipped, else the best shipped match
    for an ``Accept-Language`` header (``"fi-FI,fi;q=0.9,en;q=0.8"``), else English."""
    known = available_locales()
    if preferred and preferred.lower() in known:
        return preferred.lower()
    choices: list[tuple[float, int, str]] = []
    for order, part in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().split("-", 1)[0].lower()
        if code in known and quality > 0:
            choices.append((-quality, order, code))
    return min(choices)[2] if choices else DEFAULT_LOCALE


def plural_category(lang: str, count: float) -> str:
    """The CLDR plural category of ``count``: "one" for exactly 1, else "other" -- the rule of every shipped
    language (and of Swedish, Danish and Estonian). The dashboard uses the browser's ``Intl.PluralRules``."""
    return "one" if count == 1 else "other"


def translate(lang: str, key: str, /, **values: Any) -> str:
    """The message ``key`` in ``lang`` with ``{name}`` filled from ``values``; a plural message picks its form by
    ``values["count"]``. An unknown key is returned as it is (the tests keep every key in every catalog)."""
    text = catalog(lang).get(key)
    if text is None:
        return key
    if not isinstance(text, str):
        count = values.get("count", 0)
        text = text.get(plural_category(lang, count if isinstance(count, int | float) else 0), text["other"])
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def localized(value: Localized | None, lang: str, fallback: str = "") -> str:
    """A host-given text in ``lang``: the string itself, or the mapping's entry for ``lang``, else English, else
    its first entry, else ``fallback``."""
    if value is None:
        return fallback
    if isinstance(value, str):
        return value
    for code in (lang, DEFAULT_LOCALE):
        if isinstance(value.get(code), str):
            return value[code]
    return next((v for v in value.values() if isinstance(v, str)), fallback)
