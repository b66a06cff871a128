"""The SQLite store's spend total (stores/_spend_total.py) as one aggregate over the matching job heads.

The same conditions as the search (:func:`~jobdeck.stores._sqlite_search.filters`), with no page: one pass over
the matching rows of ``jobs``, reading two numbers of each ``usage`` text with ``json_extract``; no job is
decoded.
"""

from __future__ import annotations

import sqlite3

from ._search import SearchQuery
from ._spend_total import SpendTotal
from ._sqlite_search import filters

__all__ = ["spend_total"]

_SUMS = ("SELECT COUNT(*), COUNT(j.usage), "
         "SUM(COALESCE(json_extract(j.usage, '$.knownCost'), json_extract(j.usage, '$.cost'))), "
         "SUM(json_extract(j.usage, '$.knownCost') IS NOT NULL), "
         "SUM(json_extract(j.usage, '$.inputTokens')), SUM(json_extract(j.usage, '$.outputTokens')) "
         "FROM jobs j WHERE ")


def spend_total(conn: sqlite3.Connection, query: SearchQuery) -> SpendTotal:
    where, args = filters(query)
    return SpendTotal.of_row(conn.execute(_SUMS + " AND ".join(where), args).fetchone())
