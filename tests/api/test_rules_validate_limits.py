"""``POST /api/v1/rules/validate`` refuses a body over ``max_rules_bytes`` before parsing it, and a
value YAML cannot turn into a number is a finding, not a 500."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from live_api import LiveServer, ServerFactory
from typer.testing import CliRunner

from rapport.api.cli import app
from rapport.api.settings import Settings
from rapport.engine.loader import MAX_RULES_BYTES

RULES = Path(__file__).resolve().parents[2] / "rules"


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


def test_rules_check_reads_the_configured_rules_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    monkeypatch.setenv("RAPPORT_MAX_RULES_BYTES", "2048")
    result = CliRunner().invoke(app, ["rules", "check", str(rules)])
    assert result.exit_code == 1
    shown = f"{rules / 'scorecard.yaml'}:1:1: <root>: the file is larger than the limit of 2048"
    assert shown in result.output


def test_a_reload_reads_the_configured_rules_limit(
    serve_api: ServerFactory, rules_dir: Path
) -> None:
    server: LiveServer = serve_api(max_rules_bytes=4096)
    scorecard = rules_dir / "scorecard.yaml"
    scorecard.write_text(scorecard.read_text() + "# padding\n" * 500)
    answer = server.call("POST", "/-/reload").json()
    assert answer["ok"] is False
    assert any("larger than the limit of 4096 bytes" in f["message"] for f in answer["findings"])


def test_a_reload_with_an_integer_too_long_to_convert_is_rejected_not_a_500(
    serve_api: ServerFactory, rules_dir: Path
) -> None:
    server: LiveServer = serve_api()
    before = server.call("GET", "/api/v1/rules").json()["version"]
    scorecard = rules_dir / "scorecard.yaml"
    digits = sys.get_int_max_str_digits() + 700
    scorecard.write_text(scorecard.read_text().replace("version: 1", f"version: {'9' * digits}", 1))
    response = server.call("POST", "/-/reload")
    assert response.status_code == 422  # a rejected reload, with its findings: never a 500
    assert "is too long (at most 4300 digits)" in response.text
    metrics = server.call("GET", "/metrics").text
    assert "rapport_rules_last_reload_successful 0.0" in metrics
    assert server.call("GET", "/api/v1/rules").json()["version"] == before
