"""The rules bundle: one check and load of a whole rules directory, every finding at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rapport.api.bundle import (
    BUNDLE_FILES,
    BundleFile,
    Loaded,
    RulesBundle,
    check_bundle,
    check_rules,
    load_bundle,
)
from rapport.api.rules_version import rules_version
from rapport.engine.errors import Finding, RulesError
from rapport.engine.loader import Ruleset

GOOD = Path(__file__).parents[1] / "rules" / "good"
SHIPPED = Path(__file__).parents[2] / "rules"


def test_a_good_rules_directory_has_no_findings() -> None:
    assert check_rules(GOOD) == []


def test_the_bundle_holds_every_file_of_the_directory() -> None:
    bundle = load_bundle(SHIPPED)
    assert isinstance(bundle, RulesBundle)
    assert bundle.directory == SHIPPED
    assert bundle.version == rules_version(SHIPPED)
    assert bundle.clients is not None and len(bundle.clients) > 0
    assert bundle.collectors is not None and len(bundle.collectors.collectors) > 0
    assert [Path(case.path).name for case in bundle.rule_tests] == sorted(
        p.name for p in (SHIPPED / "tests").glob("*.yaml")
    )
    assert bundle.files[:3] == (
        SHIPPED / "scorecard.yaml",
        SHIPPED / "clients.yaml",
        SHIPPED / "collectors.yaml",
    )
    assert bundle.files[-1] == SHIPPED / "alerts.yaml"
    assert bundle.alerts is not None and len(bundle.alerts.rules) > 0
    assert len(bundle.files) == 4 + len(bundle.rule_tests)


def test_the_bundle_is_immutable() -> None:
    bundle = load_bundle(GOOD)
    with pytest.raises(AttributeError):
        bundle.version = "other"  # type: ignore[misc]


def test_load_bundle_reads_the_scorecard_and_stamps_a_version() -> None:
    ruleset = load_bundle(GOOD).ruleset
    assert isinstance(ruleset, Ruleset)
    assert ruleset.scorecard.name == "test-small"
    assert ruleset.directory == GOOD
    # every file read, not only the scorecard (GOOD has a clients.yaml too)
    assert ruleset.files == (GOOD / "scorecard.yaml", GOOD / "clients.yaml")
    assert ruleset.version == rules_version(GOOD)


def test_load_bundle_without_a_scorecard_is_a_finding(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_bundle(tmp_path)
    assert [str(f) for f in caught.value.findings] == [
        f"{tmp_path / 'scorecard.yaml'}:1:1: <root>: file not found "
        "(a rules directory needs scorecard.yaml)"
    ]


def test_problems_in_scorecard_and_clients_are_reported_together(tmp_path: Path) -> None:
    shutil.copy(GOOD / "scorecard.yaml", tmp_path / "scorecard.yaml")
    scorecard = tmp_path / "scorecard.yaml"
    scorecard.write_text(scorecard.read_text().replace("aggregate: p90", "aggregate: p9O"))
    (tmp_path / "clients.yaml").write_text(
        "version: 1\nclients:\n  - {id: a, name: A}\n  - {id: a, name: B}\n"
    )

    findings = check_rules(tmp_path)

    assert [(Path(f.path).name, f.line, f.key) for f in findings] == [
        ("clients.yaml", 4, "clients[1].id"),
        ("scorecard.yaml", 24, "components.responsiveness.aggregate"),
    ]


def test_clients_file_is_optional_but_the_scorecard_is_not(tmp_path: Path) -> None:
    (tmp_path / "clients.yaml").write_text("version: 1\nclients: []\n")
    assert [str(f) for f in check_rules(tmp_path)] == [
        f"{tmp_path / 'scorecard.yaml'}:1:1: <root>: file not found "
        "(a rules directory needs scorecard.yaml)"
    ]
    shutil.copy(GOOD / "scorecard.yaml", tmp_path / "scorecard.yaml")
    (tmp_path / "clients.yaml").unlink()
    assert check_rules(tmp_path) == []
    bundle = load_bundle(tmp_path)
    assert (bundle.clients, bundle.collectors, bundle.rule_tests) == (None, None, ())


def test_a_missing_directory_is_a_finding_not_an_exception(tmp_path: Path) -> None:
    bundle, findings = check_bundle(tmp_path / "nowhere")
    assert bundle is None
    assert [f.message for f in findings] == ["file not found"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            "collectors.yaml",
            "version: 1\ncollectors:\n  helpdesk:\n    type: no_such_type\n",
            "collectors.yaml:4:5: collectors.helpdesk.type: unknown collector type 'no_such_type'",
            id="an unknown collector type is a finding of the bundle",
        ),
        pytest.param(
            "tests/one.yaml",
            "version: 1\ndescription: d\nas_of: 2026-06-30T00:00:00Z\nclients: [{id: a}]\n"
            "signals: []\n"
            "expect:\n  - {client: a, components: {no_such_component: 1}}\n",
            "tests/one.yaml:7:",
            id="a rule test naming an unknown component is a finding of the bundle",
        ),
    ],
)
def test_every_file_kind_is_checked(tmp_path: Path, name: str, text: str, expected: str) -> None:
    shutil.copy(GOOD / "scorecard.yaml", tmp_path / "scorecard.yaml")
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
    bundle, findings = check_bundle(tmp_path)
    assert bundle is None
    assert len(findings) == 1
    assert str(findings[0]).replace(f"{tmp_path}/", "").startswith(expected)


def test_rule_tests_are_not_checked_against_a_broken_scorecard(tmp_path: Path) -> None:
    (tmp_path / "scorecard.yaml").write_text("version: 2\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "a.yaml").write_text("not: a test\n")
    assert [Path(f.path).name for f in check_rules(tmp_path)] == ["scorecard.yaml"]


def test_more_file_kinds_can_be_added_by_pattern(tmp_path: Path) -> None:
    shutil.copy(GOOD / "scorecard.yaml", tmp_path / "scorecard.yaml")
    (tmp_path / "alerts").mkdir()
    for name in ("b.yaml", "a.yaml"):
        (tmp_path / "alerts" / name).write_text("version: 1\n")

    def flag_every_file(path: Path, loaded: Loaded, max_bytes: int) -> tuple[None, list[Finding]]:
        assert "scorecard" in loaded  # needs=("scorecard",): read after a valid scorecard
        return None, [Finding(str(path), 1, 1, "", "seen")]

    files = (*BUNDLE_FILES, BundleFile("alerts", "alerts/*.yaml", flag_every_file, many=True,
                                       needs=("scorecard",)))  # fmt: skip
    bundle, findings = check_bundle(tmp_path, files)

    assert bundle is None
    assert [Path(f.path).name for f in findings] == ["a.yaml", "b.yaml"]
