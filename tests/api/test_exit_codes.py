"""Every ``rapport`` command ends by one table (``rapport.api.exit_codes``): 0 ok, 1 a finding,
2 usage or environment, and every failure reads ``error: ...`` on stderr, never a traceback.

Each case runs the real command line against a copy of the shipped rules and a SQLite store in
a temporary directory, after breaking one thing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.api.cli import app

RULES = Path(__file__).resolve().parents[2] / "rules"
BAD_COLLECTORS = "version: 1\ncollectors:\n  a:\n    type: fiel\n"
FAILING_COLLECTOR = """\
version: 1
collectors:
  surveys: {type: survey_csv, path: nowhere, score: Score, email: Email}
"""


@dataclass(frozen=True)
class Case:
    """One broken thing, the command run on it, the code expected and a word of the message."""

    args: tuple[str, ...]
    code: int
    says: str
    breaks: Callable[[Path], None] = lambda rules: None
    env: tuple[tuple[str, str], ...] = ()


def _replace(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(rules: Path) -> None:
        path = rules / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1))

    return edit


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda rules: (rules / name).write_text(text)


def _bad_rows(rules: Path) -> None:
    (rules.parent / "bad.csv").write_text(
        "event_id,client,kind,ts,value\ne1,acme,response_time,2026-06-01T10:00:00Z,fast\n"
    )


BAD_SCORECARD = _replace("scorecard.yaml", "aggregate: p90", "aggregate: p9O")
BAD_CLIENTS = _replace("clients.yaml", "segment: enterprise", "segment: [enterprise]")
FAILED_RULE_TEST = _replace("tests/delivery.yaml", "score: 44.444", "score: 99")
NO_COLLECTORS = lambda rules: (rules / "collectors.yaml").unlink()  # noqa: E731
BAD_PORT = (("RAPPORT_PORT", "eighty"),)

FINDINGS = {
    "rules check of an invalid scorecard exits 1": Case(
        ("rules", "check"), 1, "1 problem in", BAD_SCORECARD
    ),
    "rules check of an invalid clients file exits 1": Case(
        ("rules", "check"), 1, "problem", BAD_CLIENTS
    ),
    "rules check of an invalid collectors file exits 1": Case(
        ("rules", "check"), 1, "1 problem in", _write("collectors.yaml", BAD_COLLECTORS)
    ),
    "rules test with a failing rule test exits 1": Case(
        ("rules", "test"), 1, "rule tests failed", FAILED_RULE_TEST
    ),
    "score with an invalid scorecard exits 1": Case(("score",), 1, "problem", BAD_SCORECARD),
    "demo with an invalid scorecard exits 1": Case(("demo",), 1, "problem", BAD_SCORECARD),
    "explain with an invalid scorecard exits 1": Case(
        ("explain", "acme"), 1, "problem", BAD_SCORECARD
    ),
    "import of rejected rows exits 1": Case(("import", "{tmp}/bad.csv"), 1, "bad.csv", _bad_rows),
    "collect of an invalid collectors file exits 1": Case(
        ("collect", "--once"), 1, "unknown collector type",
        _write("collectors.yaml", BAD_COLLECTORS),
    ),
    "collect with a failing collector exits 1": Case(
        ("collect", "--once"), 1, "1 of 1 collectors failed: surveys",
        _write("collectors.yaml", FAILING_COLLECTOR),
    ),
    "serve with an invalid scorecard exits 1": Case(
        ("serve", "--port", "0"), 1, "problem", BAD_SCORECARD
    ),
    "serve with an invalid collectors file exits 1": Case(
        ("serve", "--port", "0"), 1, "unknown collector type",
        _write("collectors.yaml", BAD_COLLECTORS),
    ),
}  # fmt: skip

USAGE_OR_ENVIRONMENT = {
    "an unknown option exits 2": Case(("score", "--bogus"), 2, "No such option: --bogus"),
    "a missing argument exits 2": Case(("explain",), 2, "Missing argument"),
    "an unknown command exits 2": Case(("scroe",), 2, "No such command"),
    "score with an unknown format exits 2": Case(
        ("score", "--format", "xml"), 2, "--format must be table, json or csv, not 'xml'"
    ),
    "score with an unreadable as-of exits 2": Case(
        ("score", "--as-of", "yesterday"), 2, "ISO 8601"
    ),
    "score with an invalid setting exits 2": Case(("score",), 2, "RAPPORT_PORT", env=BAD_PORT),
    "rules check with an invalid setting exits 2": Case(
        ("rules", "check"), 2, "RAPPORT_PORT", env=BAD_PORT
    ),
    "import of a missing file exits 2": Case(("import", "nowhere.csv"), 2, "no such file"),
    "import of an unknown kind exits 2": Case(
        ("import", "--kind", "events", "x.csv"), 2, "--kind must be auto, signals or clients"
    ),
    "explain of an unknown client exits 2": Case(
        ("explain", "no-such-client"), 2, "no client by the id of 'no-such-client'"
    ),
    "history of an unknown client exits 2": Case(
        ("history", "no-such-client"), 2, "no client by the id of 'no-such-client'"
    ),
    "collect of an unknown collector exits 2": Case(
        ("collect", "--once", "exprots"), 2, "No collector by the id of 'exprots'"
    ),
    "collect without a collectors file exits 2": Case(
        ("collect", "--once"), 2, "no collectors.yaml at", NO_COLLECTORS
    ),
    "config show with an unknown format exits 2": Case(
        ("config", "show", "--format", "xml"), 2, "--format must be yaml or json, not 'xml'"
    ),
    "config show with an invalid setting exits 2": Case(
        ("config", "show"), 2, "RAPPORT_PORT", env=BAD_PORT
    ),
    "serve on a public address without tokens exits 2": Case(
        ("serve", "--host", "0.0.0.0"), 2, "Refusing to serve on 0.0.0.0"
    ),
}  # fmt: skip

CASES = {**FINDINGS, **USAGE_OR_ENVIRONMENT}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_failure_exits_by_the_table_with_one_error_line(tmp_path: Path, case: Case) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    case.breaks(rules)
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    result = CliRunner().invoke(
        app,
        ["--database-url", f"sqlite:///{tmp_path}/r.db", "--rules-dir", str(rules), *args],
        env=dict(case.env),
    )
    assert result.exit_code == case.code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert case.says in result.output, result.output
    assert "Error:" not in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_a_finding_lists_its_findings_before_the_error_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    _write("collectors.yaml", BAD_COLLECTORS)(rules)
    result = CliRunner().invoke(app, ["rules", "check", str(rules)])
    assert result.exit_code == 1
    assert (
        f"{rules}/collectors.yaml:4:5: collectors.a.type: unknown collector type" in result.stdout
    )
    assert result.stderr == f"error: 1 problem in {rules}\n"
