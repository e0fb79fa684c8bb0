"""The ``rapport`` CLI as a user runs it: real rules, a real SQLite store in a temp dir."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.api.cli import app, parse_instant
from rapport.signals.demo import history_instants

RULES = Path(__file__).resolve().parents[2] / "rules"
AS_OF = "2026-06-30T00:00:00Z"


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Invoke the CLI against a store and a copy of the shipped rules under ``tmp_path``."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    runner = CliRunner()

    def invoke(*args: str, db: str | None = None):  # type: ignore[no-untyped-def]
        url = db or f"sqlite:///{tmp_path}/rapport.db"
        return runner.invoke(app, ["--database-url", url, "--rules-dir", str(rules), *args])

    invoke.rules = rules  # type: ignore[attr-defined]
    return invoke


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["rules"],
        ["rules", "check"],
        ["rules", "test"],
        ["import"],
        ["score"],
        ["explain"],
        ["history"],
        ["demo"],
    ],
    ids=lambda c: "help of " + (" ".join(c) or "rapport"),
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_shipped_rules_check_clean(run) -> None:  # type: ignore[no-untyped-def]
    result = run("rules", "check")
    assert result.exit_code == 0, result.output
    assert "rules OK" in result.output


def test_bad_rules_are_a_finding_with_positions(run) -> None:  # type: ignore[no-untyped-def]
    scorecard = run.rules / "scorecard.yaml"
    scorecard.write_text(scorecard.read_text().replace("aggregate: p90", "aggregate: p9O", 1))
    result = run("rules", "check")
    assert result.exit_code == 1
    assert "scorecard.yaml:" in result.output
    assert "components.responsiveness.aggregate: unknown aggregate 'p9O'" in result.output


def test_shipped_rule_tests_pass(run) -> None:  # type: ignore[no-untyped-def]
    result = run("rules", "test")
    assert result.exit_code == 0, result.output


def test_demo_seeds_once_and_scores_every_client(run) -> None:  # type: ignore[no-untyped-def]
    first = run("demo", "--as-of", AS_OF, "--format", "json")
    assert first.exit_code == 0, first.output
    scores = json.loads(first.stdout)
    assert len(scores) >= 50
    assert {"client", "score", "grade", "rules_version", "components"} <= set(scores[0])
    component = next(iter(scores[0]["components"].values()))
    assert {"value", "points", "weight", "status"} <= set(component)
    again = run("demo", "--as-of", AS_OF, "--format", "json")
    assert json.loads(again.stdout) == scores


def test_score_explain_and_history(run) -> None:  # type: ignore[no-untyped-def]
    assert run("demo", "--as-of", "2026-06-01", "--format", "csv").exit_code == 0
    scored = run("score", "--as-of", AS_OF, "--format", "csv")
    assert scored.exit_code == 0, scored.output
    header, first_row = scored.stdout.splitlines()[:2]
    assert header.startswith("client,as_of,score,grade,rules_version")
    client = first_row.split(",")[0]

    explained = run("explain", client, "--as-of", AS_OF)
    assert explained.exit_code == 0, explained.output
    assert client in explained.output

    history = run("history", client, "--format", "json")
    assert history.exit_code == 0, history.output
    # The demo's replayed history (signals.demo.history_instants), its own score, then `score`.
    demo_end = parse_instant("2026-06-01")
    assert len(json.loads(history.stdout)) == len(history_instants(demo_end)) + 2


def test_unknown_client_is_a_clear_error(run) -> None:  # type: ignore[no-untyped-def]
    run("demo", "--as-of", AS_OF)
    result = run("explain", "no-such-client")
    assert result.exit_code == 2
    assert "no client by the id of 'no-such-client'" in result.output


def test_unreachable_database_exits_2_without_traceback(run) -> None:  # type: ignore[no-untyped-def]
    result = run("score", db="postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "127.0.0.1:1" in result.output


def test_bad_as_of_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("score", "--as-of", "yesterday")
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def test_import_with_bad_rows_writes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "signals.csv"
    bad.write_text(
        "event_id,client,kind,ts,value\n"
        "e1,acme,response_time,2026-06-01T10:00:00Z,3\n"
        "e2,acme,response_time,2026-06-02T10:00:00Z,fast\n"
    )
    result = run("import", str(bad))
    assert result.exit_code == 1
    assert "signals.csv:3" in result.output
    good = tmp_path / "good.csv"
    good.write_text("event_id,client,kind,ts,value\ne1,acme,response_time,2026-06-01T10:00:00Z,3\n")
    result = run("import", str(good))
    assert result.exit_code == 0, result.output
    assert "1" in result.stdout


def test_import_of_another_clients_event_id_stores_its_own(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    header = "event_id,client,kind,ts,value\n"
    first = tmp_path / "acme.csv"
    first.write_text(header + "e1,acme,response_time,2026-06-01T10:00:00Z,3\n")
    assert run("import", str(first)).exit_code == 0
    second = tmp_path / "beta.csv"
    second.write_text(
        header
        + "e1,beta,response_time,2026-06-01T10:00:00Z,5\n"
        + "e2,beta,response_time,2026-06-02T10:00:00Z,4\n"
    )
    result = run("import", str(second))
    assert result.exit_code == 0, result.output
    assert "signals: 2 inserted, 0 updated, 0 unchanged" in result.output
    assert "acme" not in result.output


def test_rules_check_covers_collectors_and_rule_tests(run) -> None:  # type: ignore[no-untyped-def]
    collectors = run.rules / "collectors.yaml"
    collectors.write_text(collectors.read_text().replace("type: survey_csv", "type: survey_cvs"))
    rule_test = run.rules / "tests" / "stability.yaml"
    rule_test.write_text(rule_test.read_text().replace("stability:", "stabilty:", 1))
    result = run("rules", "check")
    assert result.exit_code == 1
    assert "collectors.nps_survey.type: unknown collector type 'survey_cvs'" in result.output
    assert "tests/stability.yaml:" in result.output


@pytest.mark.parametrize(
    "command",
    [["--help"], ["serve", "--help"], ["collect", "--help"], ["import", "--help"]],
    ids=lambda c: "help of " + " ".join(c[:-1] or ["rapport"]) + " shows no value type for a flag",
)
def test_help_shows_flags_without_a_value_type(command: list[str]) -> None:
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help  " in result.output or "--help\n" in result.output


def test_a_client_without_signals_is_insufficient_data_not_healthy(run) -> None:  # type: ignore[no-untyped-def]
    # The shipped clients.yaml registers the demo clients; with no signals stored, none of them has
    # measured data. Before coverage they scored 86.667 (healthy) on neutral points and a
    # "measured" 0 incidents.
    scored = run("score", "--as-of", AS_OF, "--format", "json")
    assert scored.exit_code == 0, scored.output
    records = json.loads(scored.stdout)
    assert records
    for record in records:
        assert (record["grade"], record["score"], record["coverage"]) == (
            "insufficient_data",
            None,
            0,
        )
        assert record["components"]["stability"]["status"] == "missing"
    client = records[0]["client"]
    explained = run("explain", client, "--as-of", AS_OF)
    assert explained.exit_code == 0, explained.output
    assert "insufficient data (provisional" in explained.output
    assert "Coverage: 0% of the weight measured; at least 50% needed" in explained.output
    table = run("score", "--as-of", AS_OF)
    assert "insufficient data" in table.output
