"""Property-based requests over the OpenAPI schema (schemathesis): every operation but ``/events`` (a stream that
never ends), a fixed seed and a bounded number of examples, failing on any 5xx or any answer that contradicts the
schema (status code, content type, body)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobdeck import JobRunner, MemoryStore
from jobdeck.api import create_app
from tests.api.conftest import AUTH, PREFIX, TOKEN, register_test_types

STORE = MemoryStore()
RUNNER = JobRunner(STORE, abort_grace=1)
register_test_types(RUNNER)
APP = create_app(runner=RUNNER, token=TOKEN)
# A 5xx, or an answer the schema does not describe (status code, content type, headers, body). (A 400 for a
# value the schema's loose string types allow is not counted: the 400 names the value and the remedy.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
SCHEMA = schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", APP, headers=AUTH).exclude(
    path=f"{PREFIX}/events")


@pytest.fixture(scope="module", autouse=True)
def _stop_the_runner() -> Iterator[None]:
    yield
    RUNNER.shutdown(grace=2)


@pytest.mark.slow
@SCHEMA.parametrize()
@seed(20260101)
@settings(max_examples=20, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_mismatch(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={**AUTH, **(case.headers or {})}, checks=CHECKS)
