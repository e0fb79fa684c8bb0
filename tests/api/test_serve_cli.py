"""Configuration and the ``serve``/``config show`` commands: every source, masked secrets, and a
clear message with exit 2 (1 for broken rules) instead of a traceback or a half-started server."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml
from live_api import DATA, ServeProcess, token_specs
from typer.testing import CliRunner

from rapport.api.cli import app
from rapport.api.settings import SettingsError, load_settings

TOKENS_JSON = json.dumps([t.model_dump() for t in token_specs()])


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


# --- sources and precedence --------------------------------------------------------------------


def test_defaults_file_environment_secrets_and_overrides_stack_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rapport.yaml"
    config.write_text("version: 1\nport: 9001\nhost: 127.0.0.2\nmax_body_bytes: 5000\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "rapport_tokens").write_text(TOKENS_JSON)
    (secrets / "rapport_max_body_bytes").write_text("7000")
    monkeypatch.setenv("RAPPORT_CONFIG_FILE", str(config))
    monkeypatch.setenv("RAPPORT_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("RAPPORT_PORT", "9002")
    monkeypatch.setenv("RAPPORT_MAX_BODY_BYTES", "6000")
    settings = load_settings(host="127.0.0.3")
    assert settings.evaluate_interval == 900.0  # default
    assert settings.port == 9002  # environment over file
    assert settings.max_body_bytes == 7000  # secrets over environment
    assert settings.host == "127.0.0.3"  # explicit override over everything
    assert [t.name for t in settings.tokens] == ["admin", "read", "ingest", "alice", "bob"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"RAPPORT_PORT": "eighty"}, "RAPPORT_PORT: Input should be a valid integer",
                     id="a port that is not a number names the variable"),
        pytest.param({"RAPPORT_EVALUATE_INTERVAL": "10"},
                     "RAPPORT_EVALUATE_INTERVAL: Value error, expected a duration such as 30d",
                     id="a duration without a unit is refused"),
        pytest.param({"RAPPORT_TOKENS": '[{"name": "x", "sha256": "abc", "scopes": ["read"]}]'},
                     "RAPPORT_TOKENS_0_SHA256: String should match pattern",
                     id="a token digest that is not SHA-256 hex is refused"),
        pytest.param({"RAPPORT_SECRETS_DIR": "/nonexistent/secrets"},
                     "RAPPORT_SECRETS_DIR: /nonexistent/secrets is not a directory",
                     id="a missing secrets directory is refused"),
        pytest.param({"RAPPORT_CONFIG_FILE": "/nonexistent/rapport.yaml"},
                     "cannot read config file /nonexistent/rapport.yaml",
                     id="a missing config file is refused"),
    ],
)  # fmt: skip
def test_a_bad_value_fails_fast_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert message in str(raised.value)
    code, output = invoke("config", "show", env=env)
    assert code == 2
    assert message in " ".join(output.split())


def test_config_show_prints_the_effective_config_with_secrets_masked(tmp_path: Path) -> None:
    env = {"RAPPORT_TOKENS": TOKENS_JSON, "RAPPORT_PORT": "9100"}
    code, output = invoke(
        "--database-url", "postgresql://app:s3cret@db.internal:5432/rapport",
        "config", "show", env=env,
    )  # fmt: skip
    assert code == 0, output
    shown = yaml.safe_load(output)
    assert shown["database_url"] == "postgresql://app:***@db.internal:5432/rapport"
    assert shown["port"] == 9100
    assert shown["evaluate_interval"] == "15m"
    assert {t["sha256"] for t in shown["tokens"]} == {"***"}
    assert "s3cret" not in output
    assert all(t.sha256 not in output for t in token_specs())


def test_config_show_reads_the_config_file_option(tmp_path: Path) -> None:
    config = tmp_path / "rapport.yaml"
    config.write_text("port: 9300\n")
    code, output = invoke("config", "show", "--config", str(config), "--format", "json")
    assert code == 0, output
    assert json.loads(output)["port"] == 9300


# --- serve refusing to start ---------------------------------------------------------------------


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    code, output = invoke(
        "--database-url", f"sqlite:///{tmp_path}/r.db", "--rules-dir", str(DATA / "rules"),
        "serve", "--host", "0.0.0.0",
    )  # fmt: skip
    assert code == 2
    assert "Refusing to serve on 0.0.0.0 without API tokens" in " ".join(output.split())


def test_serve_with_broken_rules_prints_the_findings_and_exits_1(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "scorecard.yaml").write_text("version: 2\n")
    code, output = invoke("--database-url", f"sqlite:///{tmp_path}/r.db", "--rules-dir",
                          str(rules), "serve", "--port", "0")  # fmt: skip
    assert code == 1
    assert f"{rules}/scorecard.yaml:1:1: version: unsupported version 2 (supported: 1)" in output


def test_serve_on_a_busy_port_exits_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        code, output = invoke("--database-url", f"sqlite:///{tmp_path}/r.db", "--rules-dir",
                              str(DATA / "rules"), "serve", "--port", port)  # fmt: skip
    assert code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in output


def test_serve_prints_where_to_look_and_warns_when_open(tmp_path: Path) -> None:
    serve = ServeProcess(f"sqlite:///{tmp_path}/r.db", DATA / "rules", tokens=False)
    try:
        banner = "".join(serve.output)
        assert f"Rapport serving on {serve.url}" in banner
        assert f"API docs  {serve.url}/docs" in banner
        assert f"metrics {serve.url}/metrics" in banner
        # Once: rapport.auth.check_exposure warns, serve no longer prints a second copy.
        assert banner.count("NO API TOKENS CONFIGURED") == 1, banner
        assert "without authentication" in banner
        assert serve.call("GET", "/docs", token=None).status_code == 200
    finally:
        serve.stop()


def test_serve_runs_the_shipped_collectors_and_counts_their_runs(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "rules", tmp_path / "rules")
    shutil.copytree(repo / "examples", tmp_path / "examples")
    serve = ServeProcess(f"sqlite:///{tmp_path}/r.db", tmp_path / "rules", tokens=False)
    try:
        wanted = 'rapport_collector_runs_total{collector="helpdesk_exports",result="ok"} 1.0'
        deadline = time.monotonic() + 60
        text = ""
        while wanted not in text and time.monotonic() < deadline:
            text = serve.call("GET", "/metrics", token=None).text
            time.sleep(0.2)  # polling a real process's first scheduled run, with a deadline
        assert wanted in text
        signals = serve.call("GET", "/api/v1/clients/meridian-bank", token=None).json()
        assert signals["id"] == "meridian-bank"
    finally:
        serve.stop()
