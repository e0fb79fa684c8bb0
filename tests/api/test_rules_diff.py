"""``rapport rules diff`` on a rules repository made for the test: a git repo whose ``rules/``
directory changes a weight, adds a cap, changes a band and changes an alert threshold, each
against the same store, with outcomes worked out by hand below.

Two clients, their signals all two months old (recorded then), every window a year: the scores
stay the same over the whole replayed window, so each hand-checked number holds at every instant.

- acme: 4 milestones, 1 missed → ratio 0.25 → band 0.1–0.5 → 60 points; survey 9 → 90 points.
  Score (60 + 90) / 2 = 75: healthy.
- bolt: 2 milestones on time → 100 points; survey 4 → 40 points. Score 70: watch.
- alert ``low_score`` fires below 72: for bolt (70), at the window's first instant.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.api.cli import app
from rapport.signals.model import Client, StoredSignal
from rapport.signals.store import Store

END = datetime(2026, 6, 30, tzinfo=UTC)
START = END - timedelta(days=10)
EXPECTED_MARKDOWN = Path(__file__).parent / "data" / "rules_diff" / "weight_change.md"

SCORECARD = """\
version: 1
grades:
  - {name: healthy, min: 75, color: green}
  - {name: watch, min: 50, color: orange}
  - {name: at_risk, min: 0, color: red}
components:
  delivery:
    signal: milestone
    aggregate: ratio
    numerator: {missed: true}
    window: 365d
    weight: 1
    curve:
      bands:
        - {max: 0.1, points: 100}
        - {min: 0.1, max: 0.5, points: 60}
        - {min: 0.5, points: 0}
  satisfaction:
    signal: survey
    aggregate: latest
    window: 365d
    weight: 1
    curve: {linear: {best: 10, worst: 0}}
"""
CAP = """\
caps:
  - id: unhappy
    reason: The client's latest survey is below 5.
    when: {component: satisfaction, below: 5}
    max: 49
"""
ALERTS = """\
version: 1
rules:
  low_score:
    description: The score is below 72.
    when: {score: {below: 72}}
    severity: warning
"""
CLIENTS = """\
version: 1
clients:
  - {id: acme, name: Acme}
  - {id: bolt, name: Bolt}
"""
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Rules Author", "GIT_AUTHOR_EMAIL": "rules@example.com",
    "GIT_COMMITTER_NAME": "Rules Author", "GIT_COMMITTER_EMAIL": "rules@example.com",
    "GIT_AUTHOR_DATE": "2026-06-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-06-01T00:00:00Z",
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def signals() -> list[StoredSignal]:
    def signal(event_id: str, client: str, kind: str, days: int, **fields: object) -> StoredSignal:
        ts = START - timedelta(days=days)
        return StoredSignal(
            event_id=event_id, client=client, kind=kind, ts=ts, recorded_at=ts, **fields
        )  # type: ignore[arg-type]

    acme = [
        signal(f"a-m{n}", "acme", "milestone", 60 - 5 * n, end=START - timedelta(days=61 - 5 * n))
        for n in range(3)
    ]
    acme.append(signal("a-m3", "acme", "milestone", 45, end=START - timedelta(days=43)))  # late
    bolt = [
        signal(f"b-m{n}", "bolt", "milestone", 50 - 5 * n, end=START - timedelta(days=51 - 5 * n))
        for n in range(2)
    ]
    surveys = [
        signal("a-s", "acme", "survey", 40, value=9.0, attrs={"scale": "nps"}),
        signal("b-s", "bolt", "survey", 40, value=4.0, attrs={"scale": "nps"}),
    ]
    return [*acme, *bolt, *surveys]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A rules repository: ``rules/`` committed once (the base), on branch main."""
    root = tmp_path / "rules-repo"
    rules = root / "rules"
    rules.mkdir(parents=True)
    (rules / "scorecard.yaml").write_text(SCORECARD)
    (rules / "alerts.yaml").write_text(ALERTS)
    (rules / "clients.yaml").write_text(CLIENTS)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "base rules")
    with Store.open(f"sqlite:///{tmp_path}/rapport.db") as store:
        store.upsert_clients([Client(id="acme", name="Acme"), Client(id="bolt", name="Bolt")])
        store.upsert_signals(signals())
    return root


def diff(repo: Path, *args: str):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{repo.parent}/rapport.db"
    return CliRunner().invoke(
        app,
        ["--database-url", url, "--rules-dir", str(repo / "rules"), "rules", "diff",
         "--as-of", END.isoformat(), "--days", "10", *args],
    )  # fmt: skip


def edit(repo: Path, file: str, old: str, new: str) -> None:
    path = repo / "rules" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def commit(repo: Path, message: str) -> None:
    git(repo, "commit", "--quiet", "-am", message)


def json_diff(repo: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = diff(repo, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def clients_now(found: dict) -> dict[str, tuple]:  # type: ignore[type-arg]
    return {
        c["client"]: (
            c["base"]["score"],
            c["base"]["grade"],
            c["head"]["score"],
            c["head"]["grade"],
        )
        for c in found["clients"]
    }


def test_the_same_rules_give_an_empty_diff(repo: Path) -> None:
    result = diff(repo, "--base", "main")
    assert result.exit_code == 0, result.output
    assert "No difference: all 2 clients score the same over 10 days." in result.output
    found = json_diff(repo, "--base", "main")
    assert found["clients"] == []
    assert set(found["counts"].values()) == {0}


def test_a_heavier_weight_moves_both_clients_and_their_alerts(repo: Path) -> None:
    # delivery weighs 3: acme (3·60 + 90) / 4 = 67.5 watch; bolt (3·100 + 40) / 4 = 85 healthy.
    edit(
        repo,
        "scorecard.yaml",
        "    weight: 1\n    curve:\n      bands",
        "    weight: 3\n    curve:\n      bands",
    )
    found = json_diff(repo, "--base", "main")  # head: the working directory
    assert clients_now(found) == {
        "acme": (75.0, "healthy", 67.5, "watch"),
        "bolt": (70.0, "watch", 85.0, "healthy"),
    }
    assert found["counts"]["grade-changes"] == 2
    assert found["counts"]["max-score-diff"] == 15.0
    acme, bolt = found["clients"]
    # acme (67.5 < 72) now fires at the first instant; bolt (85) no longer does.
    assert acme["alerts_only_head"] == [
        {"rule": "low_score", "at": START.isoformat(), "severity": "warning"}
    ]
    assert bolt["alerts_only_base"] == [
        {"rule": "low_score", "at": START.isoformat(), "severity": "warning"}
    ]
    assert found["summary"] == (
        "1 client moves healthy → watch, 1 client moves watch → healthy; "
        "1 new alert in 10 days, 1 fewer; largest score difference 15.0 points."
    )


def test_a_new_cap_holds_bolt_below_50(repo: Path) -> None:
    # bolt's survey 4 < 5: capped at 49, at_risk; it already fired low_score, so no new alert.
    (repo / "rules" / "scorecard.yaml").write_text(SCORECARD + CAP)
    commit(repo, "cap unhappy clients")
    found = json_diff(repo, "--base", "main~1", "--head", "main")
    assert clients_now(found) == {"bolt": (70.0, "watch", 49.0, "at_risk")}
    assert found["counts"]["new-alerts"] == found["counts"]["fewer-alerts"] == 0
    assert found["clients"][0]["largest_difference"] == -21.0
    assert found["head"] == git(repo, "rev-parse", "main")[:12]


def test_a_kinder_band_raises_acme_within_its_grade(repo: Path) -> None:
    # 10-50% missed earns 80: acme (80 + 90) / 2 = 85, still healthy; bolt untouched.
    edit(repo, "scorecard.yaml", "max: 0.5, points: 60}", "max: 0.5, points: 80}")
    found = json_diff(repo, "--base", "main")
    assert clients_now(found) == {"acme": (75.0, "healthy", 85.0, "healthy")}
    assert found["counts"]["grade-changes"] == 0
    assert found["counts"]["score-changes"] == 1
    assert found["summary"].startswith("no client changes grade (1 score moves now);")


def test_a_lower_alert_threshold_silences_bolt(repo: Path) -> None:
    # below 65: bolt's 70 no longer fires; no score moves.
    edit(repo, "alerts.yaml", "below: 72", "below: 65")
    found = json_diff(repo, "--base", "main")
    assert clients_now(found) == {"bolt": (70.0, "watch", 70.0, "watch")}
    assert found["counts"]["fewer-alerts"] == 1
    assert found["counts"]["score-changes"] == 0
    assert found["clients"][0]["alerts_only_base"][0]["rule"] == "low_score"


def test_markdown_is_the_stored_pull_request_comment(repo: Path) -> None:
    edit(
        repo,
        "scorecard.yaml",
        "    weight: 1\n    curve:\n      bands",
        "    weight: 3\n    curve:\n      bands",
    )
    commit(repo, "delivery weighs more")
    result = diff(repo, "--base", "main~1", "--head", "main", "--format", "markdown")
    assert result.exit_code == 0, result.output
    base, head = git(repo, "rev-parse", "main~1")[:12], git(repo, "rev-parse", "main")[:12]
    shown = result.output.replace(base, "BASE").replace(head, "HEAD")
    assert shown == EXPECTED_MARKDOWN.read_text()


def test_an_invalid_head_prints_its_findings_and_exits_1(repo: Path) -> None:
    edit(repo, "scorecard.yaml", "aggregate: latest", "aggregate: lastest")
    result = diff(repo, "--base", "main")
    assert result.exit_code == 1
    check = CliRunner().invoke(app, ["rules", "check", str(repo / "rules")])
    findings = [line for line in check.output.splitlines() if "scorecard.yaml:" in line]
    assert findings and all(line in result.output for line in findings)
    assert "head rules: 1 problem in" in result.output


def test_an_invalid_base_names_its_files_by_revision(repo: Path) -> None:
    edit(repo, "scorecard.yaml", "aggregate: latest", "aggregate: lastest")
    commit(repo, "typo")
    (repo / "rules" / "scorecard.yaml").write_text(SCORECARD)
    result = diff(repo, "--base", "main")
    assert result.exit_code == 1
    assert "main:rules/scorecard.yaml:" in result.output
    assert "base rules: 1 problem in main" in result.output


@pytest.mark.parametrize(
    ("condition", "code"),
    [("grade-changes>1", 1), ("grade-changes>2", 0), ("new-alerts>0", 1), ("fewer-alerts>=2", 0)],
    ids=["two grade changes exceed one", "two do not exceed two", "a new alert fails",
         "one fewer alert is not two"],
)  # fmt: skip
def test_fail_on_exits_1_when_its_condition_holds(repo: Path, condition: str, code: int) -> None:
    edit(
        repo,
        "scorecard.yaml",
        "    weight: 1\n    curve:\n      bands",
        "    weight: 3\n    curve:\n      bands",
    )
    result = diff(repo, "--base", "main", "--fail-on", condition)
    assert result.exit_code == code, result.output
    assert "clients move" in result.output or "client moves" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "main", "--fail-on", "grade-changes=>1"], "--fail-on 'grade-changes=>1': "),
        (["--base", "no-such-branch"], "at git revision 'no-such-branch'"),
        (["--base", "main", "--step", "1 fortnight"], "--step '1 fortnight'"),
        (["--base", "main", "--format", "html"], "--format must be"),
    ],
    ids=["a bad condition", "an unknown revision", "a bad step", "an unknown format"],
)
def test_usage_errors_exit_2_with_one_line(repo: Path, args: list[str], message: str) -> None:
    result = diff(repo, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
