"""``rapport validate`` as a user runs it: the demo seeded into a real SQLite store, the shipped
rules (or a git revision of them), every output format, and the HTML report on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rapport.api.cli import app, parse_instant
from rapport.signals.store import Store

RULES = Path(__file__).resolve().parents[3] / "rules"
AS_OF = "2026-06-30T12:00:00Z"
Run = Callable[..., Result]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store seeded with the demo (its outcomes included) and a copy of the shipped rules."""
    root = tmp_path_factory.mktemp("validate")
    shutil.copytree(RULES, root / "rules")
    result = CliRunner().invoke(app, [*_globals(root), "demo", "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    return root


def _globals(root: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{root}/rapport.db", "--rules-dir", str(root / "rules")]


@pytest.fixture
def run(demo: Path) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, [*_globals(demo), "validate", *args])

    return invoke


def test_validate_prints_the_verdict_first_and_writes_the_html(run: Run, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    result = run("--html", str(html))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Validation of 'churned' against scores as known then")
    assert lines[2].startswith("Clients graded ") and "before a renewal churned" in lines[2]
    assert "At 30d: AUC" in result.stdout and "At 90d: AUC" in result.stdout
    for section in ("Outcome rate per grade", "Calibration by score band", "Segments"):
        assert section in result.stdout
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == 9  # ROC, rate per grade, calibration for each of 3 horizons
    assert "<script" not in page and "src=" not in page and "<link" not in page


def test_json_has_every_horizon_with_its_auc_grades_and_roc(run: Run, tmp_path: Path) -> None:
    result = run("--format", "json", "--horizons", "30d,60d", "--html", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [h["horizon"] for h in data["horizons"]] == ["30d", "60d"]
    first = data["horizons"][0]
    assert 0.5 < first["auc"]["value"] <= 1.0
    assert [g["label"] for g in first["grades"]][:3] == ["healthy", "watch", "at_risk"]
    assert first["cases"] == first["scored"] + first["insufficient"] + first["no_data"]
    assert len(first["roc"]["fpr"]) == len(first["roc"]["tpr"])


def test_escalations_are_validated_over_a_weekly_grid(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "esc.md"
    result = run("--outcome", "escalated", "--horizons", "30d", "--format", "markdown",
                 "--output", str(out), "--html", str(tmp_path / "r.html"))  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("## Validation of 'escalated'")
    assert "| grade | cases | escalated | rate | lift |" in text
    assert "every client in the book once a week" in text


def test_suggest_says_plainly_when_the_demo_is_too_small(run: Run, tmp_path: Path) -> None:
    result = run("--suggest", "--horizons", "30d", "--html", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    assert "### Suggested weights" in result.stdout
    assert "Too little data to suggest anything" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--horizons", "30days"], "--horizons '30days'", id="a bad horizon"),
        pytest.param(["--format", "pdf"], "--format must be", id="an unknown format"),
        pytest.param(
            ["--outcome", "lost"],
            "no 'lost' outcomes to validate against (the store has renewed",
            id="an outcome never seen",
        ),
        pytest.param(
            ["--outcome", "lost"],
            "'lost' is neither built in nor declared under signals: outcome: types:",
            id="an undeclared outcome type says so",
        ),
        pytest.param(
            ["--rules", "no-such-rev"],
            "neither a directory nor a git revision",
            id="rules that are neither a directory nor a revision",
        ),
    ],
)
def test_bad_usage_is_one_error_line_and_exit_2(run: Run, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr


GIT = shutil.which("git")


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_rules_of_a_git_revision_are_replayed_not_the_working_copy(
    demo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(RULES, repo / "rules")

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True)  # fmt: skip
        return done.stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "rules")
    commit = git("rev-parse", "HEAD")
    scorecard = repo / "rules" / "scorecard.yaml"
    scorecard.write_text("version: 1\nbroken: [", encoding="utf-8")  # the working copy is broken
    url = f"sqlite:///{demo}/rapport.db"
    args = ["--database-url", url, "--rules-dir", str(repo / "rules"), "validate",
            "--horizons", "30d", "--html", str(tmp_path / "r.html")]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--rules", "HEAD"])
    assert result.exit_code == 0, result.output
    assert f"rules HEAD@{commit[:12]}" in result.stdout
    by_directory = CliRunner().invoke(app, [*args, "--rules", str(demo / "rules")])
    assert by_directory.exit_code == 0, by_directory.output
    # The same scorecard either way: the same findings.
    assert by_directory.stdout.split("\n", 1)[1] == result.stdout.split("\n", 1)[1]


def test_outcomes_from_a_crm_export_import_and_validate(tmp_path: Path) -> None:
    shutil.copytree(RULES, tmp_path / "rules")
    csv = tmp_path / "outcomes.csv"
    csv.write_text(
        "event_id,client,kind,ts,type,value,deal\n"
        "crm-1,northwind-logistics,outcome,2026-05-01T00:00:00Z,renewed,120000,D-1001\n"
        "crm-2,harbor-health-group,outcome,2026-05-03,churned,,D-1002\n"
        "crm-3,orbit-retail,outcome,2026-05-04,escalated,,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, [*_globals(tmp_path), "import", str(csv)])
    assert result.exit_code == 0, result.output
    html = str(tmp_path / "r.html")
    report = CliRunner().invoke(app, [*_globals(tmp_path), "validate", "--html", html])
    assert report.exit_code == 0, report.output
    assert "Too few cases to judge: 1 of 2 churned" in report.stdout
    with Store.open(f"sqlite:///{tmp_path}/rapport.db") as store:
        rows = store.client_signals("northwind-logistics", ["outcome"], parse_instant(None))
    assert [(r.attrs, r.value) for r in rows] == [({"type": "renewed", "deal": "D-1001"}, 120000)]


def test_a_bad_outcome_type_is_a_rejected_row(tmp_path: Path) -> None:
    shutil.copytree(RULES, tmp_path / "rules")
    csv = tmp_path / "outcomes.csv"
    csv.write_text(
        "event_id,client,kind,ts,type\ncrm-1,northwind-logistics,outcome,2026-05-01,Churned!\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, [*_globals(tmp_path), "import", str(csv)])
    assert result.exit_code == 1
    assert "type" in result.output


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(app, ["validate", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--horizons", "--outcome", "--rules", "--since", "--until", "--format",
                   "--output", "--html", "--suggest"):  # fmt: skip
        assert option in result.output


def test_html_format_is_the_report_written_to_disk(run: Run, tmp_path: Path) -> None:
    html, out = tmp_path / "r.html", tmp_path / "out.html"
    result = run("--format", "html", "--horizons", "30d", "--output", str(out), "--html", str(html))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == html.read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
