"""No credential of the store URL reaches a person who should not see it, and a malformed
setting is one ``error:`` line with exit 2 for every command.

The URLs carry their secrets in the query string (``?password=…``), the form the user-info
masking alone missed; PostgreSQL on 127.0.0.1 runs with trust auth, so the password is accepted
and ignored."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from live_api import DATA, ServeProcess, ServerFactory, seed_world
from psycopg import sql
from sqlalchemy import make_url
from typer.testing import CliRunner

from rapport.api.cli import app

SECRET = "hunter2-in-the-query"
ADMIN_URL = os.environ.get("RAPPORT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RULES = Path(__file__).resolve().parents[2] / "rules"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    conninfo = make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(False)
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)


@pytest.fixture
def secret_database() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL database: (its URL with a password in the query, its name). The
    test may drop it to make the store unreachable."""
    name = f"rapport_secret_{os.getpid()}_{os.urandom(3).hex()}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield f"{url.render_as_string(False)}?password={SECRET}", name
    finally:
        drop_database(name)


def drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_ready_says_store_unreachable_and_names_no_url(
    serve_api: ServerFactory, secret_database: tuple[str, str]
) -> None:
    url, name = secret_database
    server = serve_api(url=url)
    assert server.call("GET", "/-/ready", token=None).json()["checks"]["store"] == "ok"
    drop_database(name)
    answer = server.call("GET", "/-/ready", token=None)
    assert answer.status_code == 503
    assert answer.json()["checks"]["store"] == "store unreachable"
    assert SECRET not in answer.text and name not in answer.text and "127.0.0.1" not in answer.text


def test_an_authenticated_503_names_the_store_url_masked(
    serve_api: ServerFactory, secret_database: tuple[str, str]
) -> None:
    url, name = secret_database
    server = serve_api(url=url)
    seed_world(server)
    drop_database(name)
    answer = server.call("GET", "/api/v1/clients/acme/history")
    assert answer.status_code == 503, answer.text
    reason = answer.json()["reason"]
    assert reason.startswith("Cannot reach the store at postgresql+psycopg://")
    assert "?password=***" in reason and SECRET not in reason


def test_serve_banner_masks_the_query_password(secret_database: tuple[str, str]) -> None:
    url, _ = secret_database
    serve = ServeProcess(url, DATA / "rules", tokens=False)
    try:
        banner = "".join(serve.output)
        assert "?password=***" in banner
        assert SECRET not in banner
    finally:
        serve.stop()


def test_config_show_masks_the_query_password() -> None:
    url = f"postgresql://app:pw1@db.internal/x?sslmode=require&password={SECRET}"
    result = CliRunner().invoke(app, ["--database-url", url, "config", "show"])
    assert result.exit_code == 0, result.output
    assert "database_url: postgresql://app:***@db.internal/x?sslmode=require&password=***" in (
        result.output
    )
    assert SECRET not in result.output and "pw1" not in result.output


COMMANDS = {
    "score": ("score",),
    "demo": ("demo",),
    "explain": ("explain", "acme"),
    "history": ("history", "acme"),
    "import": ("import", "{tmp}/signals.csv"),
    "rules check": ("rules", "check"),
    "rules test": ("rules", "test"),
    "collect": ("collect", "--once"),
    "serve": ("serve", "--port", "0"),
    "config show": ("config", "show"),
}
BAD_SETTINGS = {
    "malformed RAPPORT_TOKENS JSON": (
        {"RAPPORT_TOKENS": '[{"name": "x",'},
        "RAPPORT_TOKENS: not valid JSON",
    ),
    "a database URL whose port is not a number": (
        {"RAPPORT_DATABASE_URL": f"postgresql://app:{SECRET}@127.0.0.1:five/x"},
        "RAPPORT_DATABASE_URL: Value error, the port 'five' is not a number",
    ),
}
CASES = [
    pytest.param(args, env, says, id=f"{problem} stops {command} with exit 2")
    for command, args in COMMANDS.items()
    for problem, (env, says) in BAD_SETTINGS.items()
]


@pytest.mark.parametrize(("args", "env", "says"), CASES)
def test_a_malformed_setting_is_one_error_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], says: str
) -> None:
    shutil.copytree(RULES, tmp_path / "rules")
    (tmp_path / "signals.csv").write_text("event_id,client,kind,ts,value\n")
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, ["--rules-dir", str(tmp_path / "rules"), *arguments], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("error: ") == 1, result.stderr
    assert says in " ".join(result.stderr.split())
    assert "Traceback" not in result.output and SECRET not in result.output
