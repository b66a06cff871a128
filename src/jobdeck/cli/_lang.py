"""The language of the CLI's human output, and its words (from the catalogs in ``jobdeck/locales``).

The language is ``JOBDECK_LANG`` (``fi``), else the locale the shell names, as POSIX orders it: ``LC_ALL``, then
``LC_MESSAGES``, then ``LANG`` (``fi_FI.UTF-8`` is ``fi``); the first of these that is set decides, and a language
jobdeck does not ship (or ``C``, ``POSIX``) is English. ``--json`` output is data and never translated, nor are a
job's own messages or the server's error details.

    print(t("cli.list.none_active"))
"""

from __future__ import annotations

import os
from typing import Any

from ..core.i18n import DEFAULT_LOCALE, available_locales, translate

__all__ = ["LANG_VARIABLES", "cli_lang", "t"]

LANG_VARIABLES = ("JOBDECK_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


def cli_lang() -> str:
    """The language to print in, read from the environment on each call (tests and shells may change it)."""
    for name in LANG_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            # fi_FI.UTF-8@euro, fi-FI, fi: the language is what comes before the territory and encoding.
            code = value.split(".", 1)[0].split("@", 1)[0].replace("-", "_").split("_", 1)[0].lower()
            return code if code in available_locales() else DEFAULT_LOCALE
    return DEFAULT_LOCALE


def t(key: str, /, **values: Any) -> str:
    """The message ``key`` in the CLI's language, ``{name}`` filled from ``values`` (see
    :func:`jobdeck.core.i18n.translate`)."""
    return translate(cli_lang(), key, **values)
