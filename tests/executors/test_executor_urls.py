"""Executor URLs: jobdeck's ``?queue=`` taken out, the rest handed to the engine as written, and the password in
no message or repr. (The parser itself: tests/test_urls.py.)"""

from __future__ import annotations

import pytest

from jobdeck.core.errors import ExecutorError
from jobdeck.executors import open_executor


@pytest.mark.parametrize("url", ["celery://user:s3cret@127.0.0.1:5672//", "celery+://user:s3cret@h//?queue=q"])
def test_a_bad_celery_url_does_not_show_its_password(url: str) -> None:
    pytest.importorskip("celery")
    with pytest.raises(ExecutorError, match="not a Celery executor URL") as caught:
        open_executor(url)
    assert "s3cret" not in str(caught.value)


def test_an_unknown_engine_does_not_show_the_password() -> None:
    with pytest.raises(ExecutorError, match="unknown executor 'celeri'") as caught:
        open_executor("celeri+amqp://user:s3cret@127.0.0.1:5672//")
    assert "s3cret" not in str(caught.value)


def test_the_celery_broker_url_keeps_its_own_options_as_written() -> None:
    pytest.importorskip("celery")
    executor = open_executor("celery+redis://127.0.0.1:1/3?ssl_cert_reqs=CERT%20NONE&queue=long")
    assert executor.queue == "long"  # type: ignore[attr-defined]
    assert executor.app.conf.broker_url == "redis://127.0.0.1:1/3?ssl_cert_reqs=CERT%20NONE"  # type: ignore[attr-defined]


def test_procrastinate_connection_options_reach_libpq_as_written() -> None:
    pytest.importorskip("procrastinate")
    from psycopg.conninfo import conninfo_to_dict

    from jobdeck.executors.procrastinate import parse_url

    # a%26b is "a&b" to libpq; it used to be decoded and passed on bare, so libpq read a second option "b".
    dsn, options = parse_url("procrastinate+postgresql://u@h:5432/app?application_name=a%26b&queue=q&sslmode=prefer")
    assert options == {"queue": "q"}
    assert conninfo_to_dict(dsn)["application_name"] == "a&b"


def test_a_password_given_as_a_query_option_is_not_shown() -> None:
    pytest.importorskip("procrastinate")
    executor = open_executor("procrastinate+postgresql://u@127.0.0.1:1/app?password=s3cret")
    assert "s3cret" not in repr(executor)
    assert executor.dsn == "postgresql://u@127.0.0.1:1/app?password=s3cret"  # type: ignore[attr-defined]
