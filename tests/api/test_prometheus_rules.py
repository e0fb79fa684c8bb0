"""``rapport export prometheus-rules``: the output passes ``promtool check rules`` and the
``promtool test rules`` file shipped next to this test (Debian's prometheus, 2.42: the first with
``keep_firing_for``); what PromQL cannot express is a comment, not a rule."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rapport.api.prometheus_rules import duration

HERE = Path(__file__).parent / "prometheus"
SHIPPED = Path(__file__).parents[2] / "rules"
RAPPORT = Path(sys.executable).with_name("rapport")
PROMTOOL = shutil.which("promtool") or "promtool"


def _export(rules_dir: Path, output: Path) -> None:
    command = [str(RAPPORT), "--rules-dir", str(rules_dir), "export", "prometheus-rules",
               "--output", str(output)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], check=False, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED / "scorecard.yaml", rules)
    shutil.copy(HERE / "alerts.yaml", rules)
    shutil.copy(HERE / "alerts.test.yml", tmp_path)
    _export(rules, tmp_path / "rapport-alerts.yml")
    return tmp_path


def test_the_export_passes_promtool_check_and_its_shipped_unit_tests(exported: Path) -> None:
    checked = _promtool("check", "rules", str(exported / "rapport-alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", str(exported / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_inexpressible_conditions_are_comments_not_rules(exported: Path) -> None:
    text = (exported / "rapport-alerts.yml").read_text(encoding="utf-8")
    names = [r["alert"] for r in yaml.safe_load(text)["groups"][0]["rules"]]
    assert names == ["RapportScoreDropping", "RapportScoreCritical", "RapportGradeSlipped"]
    assert "# helpdesk_stale: skipped" in text
    assert "# score_critical: its clear condition (hysteresis) is not expressible" in text


def test_the_shipped_alert_rules_export_cleanly(tmp_path: Path) -> None:
    _export(SHIPPED, tmp_path / "shipped.yml")
    checked = _promtool("check", "rules", str(tmp_path / "shipped.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(3600, "1h", id="an hour is 1h"),
        pytest.param(7 * 86400, "7d", id="a week is 7d, as alerts.yaml writes it"),
        pytest.param(5400, "1h30m", id="ninety minutes is 1h30m"),
        pytest.param(0.2, "1s", id="under a second rounds up to 1s"),
    ],
)
def test_durations_in_prometheus_form(seconds: float, text: str) -> None:
    assert duration(seconds) == text
