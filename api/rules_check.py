"""``rapport rules check``: every file of a rules directory, checked together, all findings at once.

The scorecard and registry checks live in ``signals.registry``; collectors.yaml is checked by the
collector framework, and rule tests by ``api.rule_tests`` — which need a valid scorecard first,
since a test names its components and limits.
"""

from __future__ import annotations

from pathlib import Path

from rapport.api.rule_tests import check_rule_test_file
from rapport.engine.errors import Finding
from rapport.engine.loader import SCORECARD_FILE, load_scorecard
from rapport.signals.collectors.config import COLLECTORS_FILE, check_collectors_file
from rapport.signals.registry import RULES_FILE_CHECKS, RulesFileCheck, check_rules_dir

RULE_TESTS = "tests/*.yaml"
CHECKS = (*RULES_FILE_CHECKS, RulesFileCheck(COLLECTORS_FILE, check_collectors_file))


def check_rules(directory: Path) -> list[Finding]:
    """Findings of every rules file under ``directory``, sorted; empty means it all loads."""
    findings = check_rules_dir(directory, CHECKS)
    scorecard_path = directory / SCORECARD_FILE
    if any(Path(f.path) == scorecard_path for f in findings):
        return findings  # rule tests cannot be checked against a broken scorecard
    scorecard = load_scorecard(scorecard_path)
    for path in sorted(directory.glob(RULE_TESTS)):
        findings += check_rule_test_file(path, scorecard)
    return sorted(findings)
