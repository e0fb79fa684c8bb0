"""Every file in tests/rules/bad_alerts is a broken ``alerts.yaml`` whose ``# expect:`` lines say
exactly which findings it gives against the shipped scorecard, in order; the shipped
``rules/alerts.yaml`` gives none."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport.api.bundle import _read_alerts
from rapport.engine.loader import load_scorecard

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
BAD_FILES = sorted((HERE / "bad_alerts").glob("*.yaml"))
EXPECT = "# expect: "


def _loaded() -> dict[str, object]:
    return {"scorecard": load_scorecard(ROOT / "rules" / "scorecard.yaml")}


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem.replace("_", " "))
def test_bad_alert_rules_report_exactly_their_expected_findings(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = [line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT)]
    rules, findings = _read_alerts(path, _loaded(), 1 << 20)
    assert rules is None
    assert [str(f).removeprefix(f"{path}:") for f in findings] == expected


def test_the_shipped_alert_rules_load_without_findings() -> None:
    rules, findings = _read_alerts(ROOT / "rules" / "alerts.yaml", _loaded(), 1 << 20)
    assert findings == []
    assert rules is not None and "score_critical" in rules.rules
