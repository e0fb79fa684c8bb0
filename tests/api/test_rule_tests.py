"""api.rule_tests: the shipped tests pass, wrong expectations show a diff, bad files point."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport.api.rule_tests import check_rule_test_file, run_rule_tests
from rapport.engine.errors import RulesError
from rapport.engine.loader import load_scorecard

RULES = Path(__file__).resolve().parents[2] / "rules"

# Two replies, p90 26 hours: responsiveness 57.5 points, score 76.25 (see rules/tests/). A fresh
# incident collector maps acme, so stability is a measured 0 incidents: coverage (25 + 15) / 100.
HEADER = """\
version: 1
description: slow replies cost points
as_of: 2026-06-30T00:00:00Z
clients:
  - {id: acme, segment: midmarket, sources: [incident]}
  - {id: empty}
signals:
  - {client: acme, kind: response_time, ts: -1d, value: 2}
  - {client: acme, kind: response_time, ts: -2d, value: 4}
  - {client: acme, kind: response_time, ts: -3d, value: 10}
  - {client: acme, kind: response_time, ts: -4d, value: 20}
  - {client: acme, kind: response_time, ts: -5d, value: 30}
"""


def rules_dir(tmp_path: Path, **tests: str) -> Path:
    """A rules directory with the shipped scorecard and the given ``tests/<name>.yaml`` files.

    Its min_coverage is lowered from 0.5 to acme's 0.4, so acme is graded: exactly at the minimum
    is enough (the tests here are about the runner, not about coverage)."""
    (tmp_path / "tests").mkdir()
    shipped = (RULES / "scorecard.yaml").read_text(encoding="utf-8")
    assert "\nmin_coverage: 0.5\n" in shipped
    lowered = shipped.replace("\nmin_coverage: 0.5\n", "\nmin_coverage: 0.4\n")
    (tmp_path / "scorecard.yaml").write_text(lowered, encoding="utf-8")
    for name, text in tests.items():
        (tmp_path / "tests" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_the_shipped_rule_tests_pass() -> None:
    report = run_rule_tests(RULES)
    assert report.failures == ()
    assert report.ok
    assert report.files == len(list((RULES / "tests").glob("*.yaml"))) >= 6
    assert report.passed >= 16
    assert report.render().endswith(f"{report.passed} passed, 0 failed ({report.files} files)")


def test_a_wrong_expectation_fails_with_a_diff_naming_file_line_and_client(tmp_path: Path) -> None:
    text = HEADER + (
        "expect:\n"  # line 13
        "  - client: acme\n"  # line 14
        "    score: 62.5\n"
        "    grade: healthy\n"
        "    components:\n"
        "      responsiveness: {points: 50, status: ok}\n"
        "      satisfaction: {weight: 0.2}\n"
        "    limits: [open_sev1]\n"
    )
    report = run_rule_tests(rules_dir(tmp_path, wrong=text))
    assert (report.passed, report.failed, report.ok) == (0, 1, False)
    path = tmp_path / "tests" / "wrong.yaml"
    assert report.render() == (
        f"FAIL {path}:14 (client acme): slow replies cost points\n"
        "  score                             expected 62.5         got 76.25\n"
        "  components.responsiveness.points  expected 50           got 57.5\n"
        "  components.satisfaction.weight    expected 0.2          got 0\n"
        "  limits                            expected [open_sev1]  got []\n"
        "\n"
        "0 passed, 1 failed (1 file)"
    )


def test_only_stated_expectations_are_compared_within_tolerance(tmp_path: Path) -> None:
    text = HEADER + (
        "tolerance: 0.05\n"
        "expect:\n"
        "  - {client: acme, score: 76.29}\n"  # within 0.05 of 76.25
        "  - {client: acme, components: {responsiveness: 57.46}}\n"  # a number is points
        # No data at all is not healthy: neutral 70 and 100 over (20 + 10), stability missing
        # (no incident source) -> provisional (1400 + 1000) / 30 = 80, coverage 0.
        "  - {client: empty, score: null, grade: insufficient_data, provisional_score: 80}\n"
        "  - {client: empty, components: {satisfaction: {points: null, value: null}}}\n"
    )
    report = run_rule_tests(rules_dir(tmp_path, close=text))
    assert (report.passed, report.failed) == (4, 0), report.render()


@pytest.mark.parametrize(
    ("expect", "line"),
    [
        pytest.param(
            "{client: acme, score: 76.2}",
            "score  expected 76.2  got 76.25",
            id="the default tolerance is 0.01",
        ),
        pytest.param(
            "{client: acme, score: null}",
            "score  expected null  got 76.25",
            id="null expects no score",
        ),
        pytest.param(
            "{client: empty, components: {satisfaction: 60}}",
            "components.satisfaction.points  expected 60  got null",
            id="a number expects points where the component was skipped",
        ),
        pytest.param(
            "{client: empty, grade: at_risk}",
            "grade  expected at_risk  got insufficient_data",
            id="a grade is compared as a word",
        ),
        pytest.param(
            "{client: acme, components: {responsiveness: {status: stale}}}",
            "components.responsiveness.status  expected stale  got ok",
            id="a status is compared as a word",
        ),
        pytest.param(
            "{client: acme, limits: [open_sev1]}",
            "limits  expected [open_sev1]  got []",
            id="limits are compared as a set",
        ),
    ],
)
def test_each_kind_of_mismatch_is_reported(tmp_path: Path, expect: str, line: str) -> None:
    report = run_rule_tests(rules_dir(tmp_path, one=HEADER + f"expect:\n  - {expect}\n"))
    (failure,) = report.failures
    assert failure.diff == (f"  {line}",)


def test_relative_and_absolute_times_and_a_repeated_event_id(tmp_path: Path) -> None:
    text = """\
version: 1
description: times relative to as_of, ISO times, and one event id twice
as_of: 2026-06-30T00:00:00Z
clients: [{id: acme}]
signals:
  - {client: acme, kind: response_time, ts: -90m, value: 2}
  - {client: acme, kind: response_time, ts: "2026-06-28T00:00:00Z", value: 4}
  - {client: acme, kind: response_time, ts: -3d, value: 100, event_id: same}
  - {client: acme, kind: response_time, ts: -3d, value: 6, event_id: same}
  - {client: acme, kind: response_time, ts: +1h, value: 500}
expect:
  # Seen: 2, 4 and 6 (the second "same" replaces the first; +1h is after as_of).
  # p90 at rank 1.8 of [2, 4, 6] = 4 + 0.8 x 2 = 5.6 hours.
  - {client: acme, components: {responsiveness: {value: 5.6}}}
"""
    report = run_rule_tests(rules_dir(tmp_path, times=text))
    assert report.ok, report.render()


def test_a_given_scorecard_is_used_instead_of_the_directorys(tmp_path: Path) -> None:
    # The shipped scorecard's min_coverage 0.5 (not the directory's 0.4) grades acme's 0.4 apart.
    expect = "expect:\n  - {client: acme, grade: insufficient_data, provisional_score: 76.25}\n"
    directory = rules_dir(tmp_path, one=HEADER + expect)
    (directory / "scorecard.yaml").write_text("not: a scorecard\n", encoding="utf-8")
    report = run_rule_tests(directory, load_scorecard(RULES / "scorecard.yaml"))
    assert report.ok


def test_null_expects_no_score_and_no_grade(tmp_path: Path) -> None:
    # Only responsiveness, skipped without replies: a client without replies has no score.
    only = load_scorecard(RULES / "scorecard.yaml")
    only = only.model_copy(
        update={
            "components": {"responsiveness": only.components["responsiveness"]},
            "caps": (),
            "min_coverage": 0.0,  # no data at all is then ungraded, not insufficient_data
        }
    )
    text = HEADER + (
        "expect:\n"
        "  - {client: empty, score: null, grade: null}\n"
        "  - {client: empty, score: 0}\n"
        "  - {client: acme, score: 57.5, grade: watch}\n"
    )
    report = run_rule_tests(rules_dir(tmp_path, null=text), only)
    (failure,) = report.failures
    assert (report.passed, failure.client, failure.diff) == (
        2,
        "empty",
        ("  score  expected 0  got null",),
    )


def test_a_directory_without_tests_reports_none_found(tmp_path: Path) -> None:
    report = run_rule_tests(rules_dir(tmp_path))
    assert (report.files, report.passed, report.failed, report.ok) == (0, 0, 0, True)
    assert report.render() == "no rule tests found"


@pytest.mark.parametrize(
    ("body", "finding"),
    [
        pytest.param(
            "expect:\n  - {client: acme, score: high}\n",
            ":14:20: expect[0].score: Input should be a valid number",
            id="a score that is not a number points at the score",
        ),
        pytest.param(
            "expect:\n  - {client: acme, colour: red}\n",
            ":14:20: expect[0].colour: unknown key 'colour'",
            id="an unknown key points at the key",
        ),
        pytest.param(
            "expect:\n  - {client: nobody, score: 1}\n",
            ":14:6: expect[0].client: unknown client 'nobody' (clients: acme, empty)",
            id="an expectation for an unlisted client",
        ),
        pytest.param(
            "expect:\n  - client: acme\n    components: {speed: 1}\n",
            ":15:18: expect[0].components.speed: unknown component 'speed' (components:"
            " delivery_lateness, delivery_on_time, responsiveness, satisfaction,"
            " satisfaction_trend, stability)",
            id="an unknown component",
        ),
        pytest.param(
            "expect:\n  - {client: acme, grade: great}\n",
            ":14:20: expect[0].grade: unknown grade 'great' "
            "(grades: at_risk, healthy, insufficient_data, watch)",
            id="an unknown grade",
        ),
        pytest.param(
            "expect:\n  - {client: acme, limits: [open_sev1, nope]}\n",
            ":14:40: expect[0].limits[1]: unknown cap or floor 'nope'"
            " (caps and floors: missed_majority, open_sev1)",
            id="an unknown cap",
        ),
        pytest.param(
            "  - {client: acme, kind: response_time, ts: -1d, value: -3}\n"
            "expect:\n  - {client: acme}\n",
            ":13:50: signals[5].value: Input should be greater than or equal to 0",
            id="a signal the import API would refuse points into the signal",
        ),
        pytest.param(
            "  - {client: acme, kind: response_time, ts: yesterday, value: 3}\n"
            "expect:\n  - {client: acme}\n",
            ":13:41: signals[5].ts: Input should be a valid datetime or date, input is too short"
            " (use ISO 8601 (2026-06-28T09:00:00Z) or an offset from as_of such as -2d, -36h, +1d)",
            id="a time that is neither ISO nor an offset",
        ),
        pytest.param(
            "  - {client: ghost, kind: response_time, ts: -1d, value: 3}\n"
            "expect:\n  - {client: acme}\n",
            ":13:6: signals[5].client: unknown client 'ghost' (clients: acme, empty)",
            id="a signal of an unlisted client",
        ),
        pytest.param(
            "  - {client: acme, kind: invoices, ts: -1d, value: 3}\nexpect:\n  - {client: acme}\n",
            ":13:20: signals[5].kind: unknown signal kind 'invoices'",
            id="a signal kind the scorecard does not declare",
        ),
    ],
)
def test_a_malformed_test_file_gives_a_positioned_finding(
    tmp_path: Path, body: str, finding: str
) -> None:
    with pytest.raises(RulesError) as raised:
        run_rule_tests(rules_dir(tmp_path, bad=HEADER + body))
    path = tmp_path / "tests" / "bad.yaml"
    shown = [str(f) for f in raised.value.findings]
    assert any(s.startswith(f"{path}{finding}") for s in shown), shown


def test_every_bad_file_is_reported_at_once(tmp_path: Path) -> None:
    good = HEADER + "expect:\n  - {client: acme}\n"
    directory = rules_dir(
        tmp_path,
        a=good.replace("version: 1", "version: 2"),
        b=good + "  - {client: nobody}\n",
        c=good,
    )
    with pytest.raises(RulesError) as raised:
        run_rule_tests(directory)
    files = sorted({Path(f.path).name for f in raised.value.findings})
    assert files == ["a.yaml", "b.yaml"]


def test_each_shipped_test_file_checks_clean_on_its_own() -> None:
    scorecard = load_scorecard(RULES / "scorecard.yaml")
    for path in sorted((RULES / "tests").glob("*.yaml")):
        assert check_rule_test_file(path, scorecard) == [], path
