"""Every file in tests/rules/bad is a broken scorecard whose ``# expect:`` lines say exactly which
findings ``rapport rules check`` must print for it: no more, no fewer, in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport.engine.errors import RulesError
from rapport.engine.loader import load_scorecard

HERE = Path(__file__).parent
BAD_FILES = sorted((HERE / "bad").glob("*.yaml"))
GOOD_FILES = sorted((HERE / "good").glob("*.yaml"))
EXPECT = "# expect: "


def _sentence(path: Path) -> str:
    return path.stem.replace("_", " ")


def _expected(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT)]


def test_the_bad_rules_folder_covers_at_least_fourteen_mistakes() -> None:
    assert len(BAD_FILES) >= 14


@pytest.mark.parametrize("path", BAD_FILES, ids=_sentence)
def test_bad_scorecard_reports_exactly_its_expected_findings(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} has no '# expect:' line"

    with pytest.raises(RulesError) as caught:
        load_scorecard(path)

    prefix = f"{path}:"
    reported = [str(finding).removeprefix(prefix) for finding in caught.value.findings]
    assert all(finding.path == str(path) for finding in caught.value.findings)
    assert reported == expected


@pytest.mark.parametrize("path", BAD_FILES, ids=_sentence)
def test_bad_scorecard_error_message_lists_every_finding_with_its_path(path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_scorecard(path)

    message = str(caught.value)
    count = len(_expected(path))
    assert message.splitlines()[0] == f"{count} problem{'s' if count != 1 else ''} in rules:"
    for expected in _expected(path):
        assert f"{path}:{expected}" in message


@pytest.mark.parametrize("path", [p for p in GOOD_FILES if p.name != "clients.yaml"], ids=_sentence)
def test_good_scorecard_loads_without_findings(path: Path) -> None:
    scorecard = load_scorecard(path)
    assert scorecard.version == 1
