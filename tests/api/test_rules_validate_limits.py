"""``POST /api/v1/rules/validate`` refuses a body over ``max_rules_bytes`` before parsing it, and a
value YAML cannot turn into a number is a finding, not a 500."""

from __future__ import annotations

import sys

from live_api import LiveServer, ServerFactory

from rapport.api.settings import Settings
from rapport.engine.loader import MAX_RULES_BYTES


def test_the_rules_limit_defaults_to_the_engine_default() -> None:
    assert Settings().max_rules_bytes == MAX_RULES_BYTES == 1024 * 1024


def test_a_validate_body_over_the_rules_limit_is_a_413_with_a_reason(
    serve_api: ServerFactory,
) -> None:
    server: LiveServer = serve_api(max_rules_bytes=2048)
    body = b"version: 1\n" + b"# padding\n" * 300
    response = server.call("POST", "/api/v1/rules/validate", content=body)
    assert response.status_code == 413
    assert "larger than the limit of 2048 bytes" in response.text


def test_a_validate_body_within_the_rules_limit_is_checked(serve_api: ServerFactory) -> None:
    server: LiveServer = serve_api(max_rules_bytes=2048)
    response = server.call("POST", "/api/v1/rules/validate", content=b"version: 2\n")
    assert response.status_code == 200
    assert response.json()["ok"] is False


def test_an_integer_too_long_to_convert_is_a_finding_not_a_500(serve_api: ServerFactory) -> None:
    server: LiveServer = serve_api()
    digits = sys.get_int_max_str_digits() + 700
    response = server.call(
        "POST", "/api/v1/rules/validate", content=f"version: {'9' * digits}\n".encode()
    )
    assert response.status_code == 200
    assert [f["text"] for f in response.json()["findings"]] == [
        f"scorecard.yaml:1:10: version: a whole number of {digits} digits is too long "
        f"(at most {sys.get_int_max_str_digits()} digits)"
    ]
