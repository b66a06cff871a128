"""Store URLs end to end: the driver's own options reach it as written, and no malformed URL shows its password
or escapes as anything but one StoreError. (Each backend's own options: test_sqlite.py, test_redis.py,
test_postgres.py; the parser itself: tests/test_urls.py.)"""

from __future__ import annotations

import psycopg
import pytest

from jobdeck.core.errors import StoreError
from jobdeck.stores import open_store
from tests.conftest import unique_schema

from .conftest import drop_schema


@pytest.mark.parametrize("url", [
    "postgresql://user:pw-secret@127.0.0.1:abc/db",
    "redis://:pw-secret@127.0.0.1:abc/0",
    "sqlite://user:pw-secret@somehost/jobs.db",
    "postgress://user:pw-secret@127.0.0.1/db",  # a typo in the scheme
])
def test_a_malformed_url_is_one_store_error_without_the_password(url: str) -> None:
    # The PostgreSQL one used to escape as a bare ValueError from the redactor (a traceback, not a clear line).
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert "pw-secret" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.postgres
def test_libpq_options_reach_the_server_as_written(postgres_url: str) -> None:
    # application_name=jobdeck%20url: libpq decodes %20 to a space. The options used to be decoded and encoded
    # again form-style, and the server saw "jobdeck+url-...".
    schema = unique_schema()
    name = f"jobdeck url-{schema[-6:]}"
    sep = "&" if "?" in postgres_url else "?"
    store = open_store(f"{postgres_url}{sep}schema={schema}&application_name={name.replace(' ', '%20')}")
    try:
        store.create_job("T", "me")
        with psycopg.connect(postgres_url) as conn:
            names = {r[0] for r in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")}
        assert name in names
    finally:
        store.close()
        drop_schema(postgres_url, schema)
