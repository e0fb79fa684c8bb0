"""Property-based tests of every operation in the app's own OpenAPI document (schemathesis):
whatever schema-valid input it generates, the server never answers 5xx, and every response —
status, content type, headers, body — is one the document declares.

Deterministic: a fixed seed and a bounded number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from live_api import LiveServer
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
AUTH = {"Authorization": "Bearer admin-token"}


def operation_test(operation: Any) -> Callable[[], None]:
    @seed(20260630)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    return run


def test_every_operation_conforms_to_the_openapi_document(world: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{world.url}/openapi.json")
    operations, failures = [], []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"invalid operation in the document: {result.err()}")
        else:
            operations.append(result.ok())
    assert len(operations) >= 14  # every endpoint is in the document
    for operation in operations:
        try:
            operation_test(operation)()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
