"""The one URL module every store, executor and the command line use (jobdeck.core.urls): jobdeck's own query
options taken out and typed, the driver's left as written, and the password kept out of every message."""

from __future__ import annotations

import pytest

from jobdeck.core.errors import ExecutorError, StoreError
from jobdeck.core.urls import FLAG, FLOAT, INT, NUMBER, TEXT, redact_url, split_options

OPTIONS = {"prefix": TEXT, "pool_size": INT, "stale_after": FLOAT, "listen": FLAG}


def test_options_are_taken_out_typed_and_the_rest_stays_as_written() -> None:
    rest, options = split_options("postgresql://u:pw@h:5432/db?sslmode=require&pool_size=3&application_name=a%20b"
                                  "&listen=Off&stale_after=2.5&prefix=ops_&flag", OPTIONS, label="PostgreSQL",
                                  error=StoreError)
    assert rest == "postgresql://u:pw@h:5432/db?sslmode=require&application_name=a%20b&flag"
    assert options == {"pool_size": 3, "listen": False, "stale_after": 2.5, "prefix": "ops_"}


def test_a_url_without_options_is_returned_unchanged() -> None:
    for url in ("redis://h:6379/0", "amqp://user:pass@h:5672//", "redis://h/0#frag", "sqlite:///jobs.db?"):
        rest, options = split_options(url, OPTIONS, label="Redis", error=StoreError)
        assert options == {} and rest == url.removesuffix("?")


def test_values_are_decoded_the_last_repeat_counts_and_a_fragment_stays() -> None:
    rest, options = split_options("redis://h/0?prefix=a&prefix=b%2Fc+d&db=1#top", OPTIONS, label="Redis",
                                  error=StoreError)
    assert options == {"prefix": "b/c d"} and rest == "redis://h/0?db=1#top"


@pytest.mark.parametrize(("query", "message"), [
    ("pool_size=many", "PostgreSQL URL option pool_size='many' is not a valid int"),
    ("stale_after=soon", "PostgreSQL URL option stale_after='soon' is not a valid float"),
    ("listen=maybe", "PostgreSQL URL option listen='maybe' is not a valid bool"),
])
def test_a_bad_value_is_one_line_in_the_callers_error(query: str, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        split_options(f"postgresql://u:secret@h/db?{query}", OPTIONS, label="PostgreSQL", error=StoreError)
    assert str(caught.value) == message


def test_strict_refuses_an_unknown_option_naming_the_known_ones_without_the_password() -> None:
    known = {"progress_interval": NUMBER, "busy_timeout": NUMBER}
    with pytest.raises(ExecutorError) as caught:
        split_options("x://u:secret@h/?colour=blue", known, label="Test", error=ExecutorError, strict=True)
    assert str(caught.value) == ("unknown Test URL option 'colour' in 'x://u:***@h/?colour=blue'; known: "
                                 "progress_interval, busy_timeout")
    with pytest.raises(StoreError, match="busy_timeout='later' is not a number"):
        split_options("sqlite:///j.db?busy_timeout=later", known, label="SQLite", error=StoreError, strict=True)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://user:secret@h:5432/db", "postgresql://user:***@h:5432/db"),
    ("redis://:secret@[::1]:6379/0?prefix=p", "redis://:***@[::1]:6379/0?prefix=p"),
    ("amqp://user:s%40cret@h:5672//", "amqp://user:***@h:5672//"),
    ("postgresql://h/db?sslmode=require&password=secret", "postgresql://h/db?sslmode=require&password=***"),
    ("postgresql://u@h/db?PassWord=secret", "postgresql://u@h/db?PassWord=***"),
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("sqlite:///jobs.db", "sqlite:///jobs.db"),
    ("not a url", "not a url"),
])
def test_redact_hides_the_password_and_nothing_else(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_url_too_malformed_to_take_apart_is_still_shown_without_its_password() -> None:
    # The port does not parse: the URL cannot be rebuilt, so only its scheme is shown (it used to raise ValueError).
    assert redact_url("postgresql://u:secret@h:abc/db") == "postgresql://..."
    assert redact_url("redis://:secret@[::1/0") == "redis://..."
