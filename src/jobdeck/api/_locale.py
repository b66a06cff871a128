"""Which language a request is answered in, and the dashboard's pages put into it.

The language is the one the viewer chose with the header's switcher (remembered in the ``jobdeck_lang``
cookie), else the best match for the browser's ``Accept-Language``, else English (:func:`jobdeck.core.i18n.
negotiate`). A page's HTML names its words as ``{{t:key}}``; :func:`localize_page` puts them in, sets
``<html lang>``, and hands the page's scripts the whole catalog (``<script id="jobdeck-i18n">``, read by
``static/i18n.js``) so that what they build speaks the same language.
"""

from __future__ import annotations

import html
import re

import orjson
from starlette.requests import HTTPConnection

from ..core.i18n import available_locales, catalog, negotiate, translate

__all__ = ["LANG_COOKIE", "localize_page", "request_locale"]

LANG_COOKIE = "jobdeck_lang"
_KEY = re.compile(r"\{\{t:([A-Za-z0-9_.-]+)\}\}")
_HTML_LANG = re.compile(r'<html lang="[^"]*"')


def request_locale(conn: HTTPConnection) -> str:
    """The language to answer ``conn`` in."""
    return negotiate(conn.headers.get("accept-language"), conn.cookies.get(LANG_COOKIE))


def _catalog_script(lang: str) -> str:
    data = {"lang": lang, "locales": available_locales(), "messages": catalog(lang)}
    # "</" would end the script element early; JSON allows the escaped form.
    body = orjson.dumps(data).decode().replace("</", "<\\/")
    return f'<script type="application/json" id="jobdeck-i18n">{body}</script>'


def localize_page(text: str, lang: str) -> str:
    """``text`` (a page's HTML) in ``lang``: its ``{{t:key}}`` words, its ``lang`` attribute and its catalog."""
    text = _KEY.sub(lambda m: html.escape(translate(lang, m.group(1))), text)
    text = _HTML_LANG.sub(f'<html lang="{lang}"', text, count=1)
    return text.replace("</head>", _catalog_script(lang) + "\n</head>", 1)
