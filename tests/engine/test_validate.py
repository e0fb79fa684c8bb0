"""The meaning pass: each case breaks one thing in tests/rules/good/scorecard.yaml and names the
finding, at the position of the offending key, that ``rapport rules check`` must print."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport.engine.aggregate_table import AGGREGATE_NAMES
from rapport.engine.loader import check_model_text
from rapport.engine.model import Scorecard
from rapport.engine.validate import did_you_mean, validate_scorecard
from rapport.engine.yamlsource import parse_yaml

GOOD = (Path(__file__).parents[1] / "rules" / "good" / "scorecard.yaml").read_text(encoding="utf-8")
ZERO_HINT = "(give at least one component a weight above 0)"
SCALE = "(the scale is 0..100)"

Edit = tuple[str, str]


def _findings(edits: list[Edit]) -> list[str]:
    text = GOOD
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} must occur once in the good scorecard"
        text = text.replace(old, new)
    scorecard, findings = check_model_text(text, "sc.yaml", Scorecard)
    assert scorecard is None or not findings
    return [str(f).removeprefix("sc.yaml:") for f in findings]


CASES = [
    # --- measurements ---
    pytest.param(
        [("signal: response_time", "signal: reponse_time")],
        [
            "22:5: components.responsiveness.signal: unknown signal kind 'reponse_time' "
            "(did you mean 'response_time'? or declare it under signals:)"
        ],
        id="an unknown signal kind should suggest the closest kind",
    ),
    pytest.param(
        [("signal: overdue_invoices", "signal: weather")],
        [
            "66:5: components.billing.signal: unknown signal kind 'weather' (known kinds: "
            "response_time, milestone, survey, incident, outcome, overdue_invoices; or declare it "
            "under signals:)"
        ],
        id="an unknown signal kind far from any should list built-in and declared kinds",
    ),
    pytest.param(
        [("where: {channel: [email, ticket]}", "where: {chanel: [email, ticket]}")],
        [
            "23:13: components.responsiveness.where.chanel: unknown attribute 'chanel' (did you "
            "mean 'channel'? response_time signals can be filtered on channel, thread)"
        ],
        id="an unknown where attribute should name the kind's attributes",
    ),
    pytest.param(
        [("numerator: {missed: true}", "numerator: {missed: 1}")],
        [
            "35:17: components.delivery.numerator.missed: 'missed' is a yes/no flag, not 1 "
            "(use true or false)"
        ],
        id="a flag compared with a number should ask for true or false",
    ),
    pytest.param(
        [("numerator: {missed: true}", "numerator: {late: true}")],
        [
            "35:17: components.delivery.numerator.late: unknown attribute 'late' (milestone "
            "signals can be filtered on name, project; flags missed, delivered, open)"
        ],
        id="numerator keys should be checked like where keys",
    ),
    pytest.param(
        [("measure: normalized", "measure: normalised")],
        [
            "47:5: components.satisfaction.measure: unknown measure 'normalised' for survey "
            "signals (did you mean 'normalized'? survey signals measure value, normalized, "
            "age_days; or a flag counted as 0/1: promoter, passive, detractor)"
        ],
        id="an unknown measure should list the kind's measures and flags",
    ),
    pytest.param(
        [("{from: severity,", "{from: priority,")],
        [
            "55:15: components.stability.measure.from: 'priority' is not an attribute of incident "
            "signals (incident signals have the attributes: severity, service)"
        ],
        id="a measure mapped from an unknown attribute should list the attributes",
    ),
    pytest.param(
        [("aggregate: p90", "aggregate: p100")],
        [
            "24:5: components.responsiveness.aggregate: unknown aggregate 'p100' (aggregates: "
            "count, sum, mean, median, min, max, latest, ratio, trend, nps, p1 … p99)"
        ],
        id="a percentile past p99 should be an unknown aggregate",
    ),
    pytest.param(
        [("    numerator: {missed: true}\n", "")],
        [
            "34:5: components.delivery.aggregate: aggregate 'ratio' needs a numerator (add "
            "numerator: with the filter the counted signals must match, e.g. {missed: true})"
        ],
        id="ratio without numerator should fail",
    ),
    pytest.param(
        [("aggregate: ratio", "aggregate: count")],
        [
            "35:5: components.delivery.numerator: numerator applies only to aggregate 'ratio', "
            "not 'count' (use aggregate: ratio, or remove numerator)"
        ],
        id="a numerator with another aggregate should fail",
    ),
    pytest.param(
        [
            (
                "where: {currency: EUR}\n    aggregate: latest",
                "where: {currency: EUR}\n    aggregate: nps",
            )
        ],
        [
            "68:5: components.billing.aggregate: aggregate 'nps' works only on survey signals "
            "(this measurement reads overdue_invoices signals)"
        ],
        id="nps on a non-survey signal should fail",
    ),
    # --- weights ---
    pytest.param(
        [(f"weight: {w}", "weight: 0") for w in (30, 25, 20, 15, 10)],
        [f"20:1: components: every component has weight 0 {ZERO_HINT}"],
        id="all base weights zero should fail at components",
    ),
    pytest.param(
        [(f"weight: {w}", "weight: 0") for w in (25, 20, 15, 10)]
        + [("weights: {responsiveness: 40}", "weights: {responsiveness: 0}")],
        [
            "87:3: segments.enterprise: every component has weight 0 for segment 'enterprise' "
            + ZERO_HINT
        ],
        id="a segment whose overrides zero every weight should fail at the segment",
    ),
    # --- bands ---
    pytest.param(
        [
            (
                "      bands:\n        - {max: 3, points: 100}\n"
                "        - {min: 3, max: 10, points: 50}\n        - {min: 10, points: 0}\n",
                "      bands: []\n",
            )
        ],
        ["60:7: components.stability.curve.bands: no bands (add at least one band)"],
        id="an empty band list should fail",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{min: 0.3, max: 0.1, points: 60}")],
        [
            "41:11: components.delivery.curve.bands[1]: band [0.3, 0.1) is empty "
            "(min must be below max)"
        ],
        id="a band with min above max should fail once, without follow-up overlap noise",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{max: 0.3, points: 60}")],
        [
            "41:11: components.delivery.curve.bands[1]: only the first band may leave out min "
            "(set min to where the band before it ends)"
        ],
        id="a middle band without min should fail",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{min: 0.1, points: 60}")],
        [
            "41:11: components.delivery.curve.bands[1]: only the last band may leave out max "
            "(set max to where the band after it starts)"
        ],
        id="a middle band without max should fail",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{min: 0.05, max: 0.3, points: 60}")],
        ["41:11: components.delivery.curve.bands[1]: bands overlap: below 0.1 and [0.05, 0.3)"],
        id="a band overlapping an open-ended band should name both",
    ),
    pytest.param(
        [
            (
                "        - {max: 3, points: 100}\n        - {min: 3, max: 10, points: 50}\n"
                "        - {min: 10, points: 0}\n",
                "        - {min: 0, max: 3, points: 100}\n        - {min: 10, max: 20, points: 0}\n"
                "        - {min: 3, max: 10, points: 50}\n",
            )
        ],
        [
            "62:11: components.stability.curve.bands[1]: gap between bands: nothing scores "
            "values in [3, 10)",
            "63:11: components.stability.curve.bands[2]: bands are out of order: [3, 10) comes "
            "after [10, 20) (list bands from the lowest values to the highest)",
        ],
        id="bands listed out of order should fail",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{above: 0.1, at_most: 0.3, points: 60}")],
        [
            "41:11: components.delivery.curve.bands[1]: gap between bands: nothing scores the "
            "value 0.1 (use at_most: 0.1 in the band before, or at_least: in this one)",
            "42:11: components.delivery.curve.bands[2]: bands overlap at 0.3: both (0.1, 0.3] "
            "and 0.3 and above hold it",
        ],
        id="below then above the same value leaves a gap and at_most then min overlaps at it",
    ),
    pytest.param(
        [("{max: 0.1, points: 100}", "{at_most: 0.1, points: 100}")],
        [
            "41:11: components.delivery.curve.bands[1]: bands overlap at 0.1: both at most 0.1 "
            "and [0.1, 0.3) hold it"
        ],
        id="at_most then at_least the same value should overlap at exactly that value",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{min: 0.1, max: 0.3, at_most: 0.3, points: 60}")],
        [
            "41:11: components.delivery.curve.bands[1]: a band has one upper bound: max, below, "
            "at_most (got max, at_most)"
        ],
        id="a band with two upper bounds should fail its shape",
    ),
    pytest.param(
        [("{min: 0.1, max: 0.3, points: 60}", "{above: 0.3, at_most: 0.3, points: 60}")],
        [
            "41:11: components.delivery.curve.bands[1]: band (0.3, 0.3] is empty "
            "(above must be below at_most)"
        ],
        id="a band open at a value it also closes at should be empty",
    ),
    pytest.param(
        [("{min: 3, max: 10, points: 50}", "{min: 3, max: 10, points: 150}")],
        [
            "62:29: components.stability.curve.bands[1].points: 150 points is outside the scale "
            + SCALE
        ],
        id="band points outside the scale should fail",
    ),
    # --- points and missing ---
    pytest.param(
        [("points: [[4, 100], [24, 60], [72, 0]]", "points: [[4, 100]]")],
        [
            "29:7: components.responsiveness.curve.points: a points curve needs at least 2 "
            "points (e.g. [[0, 100], [48, 0]])"
        ],
        id="a points curve with one point should fail",
    ),
    pytest.param(
        [("points: [[4, 100], [24, 60], [72, 0]]", "points: [[4, 100], [4, 60], [72, 0]]")],
        [
            "29:26: components.responsiveness.curve.points[1]: value 4 does not come after 4 "
            "(list points by increasing value)"
        ],
        id="a repeated x in a points curve should fail",
    ),
    pytest.param(
        [("missing: {neutral: 70}", "missing: {neutral: 170}")],
        [f"43:15: components.delivery.missing.neutral: neutral 170 is outside the scale {SCALE}"],
        id="a neutral value outside the scale should fail",
    ),
    # --- grades ---
    pytest.param(
        [("{name: watch,", "{name: healthy,")],
        ["11:6: grades[1].name: duplicate grade 'healthy' (first at line 10)"],
        id="a duplicate grade name should point at the first",
    ),
    pytest.param(
        [("min: 40", "min: 70")],
        [
            "11:19: grades[1].min: grade 'watch' is never given: 'healthy' has the same min "
            "(give each grade a different min)"
        ],
        id="a grade sharing its min with an earlier grade is unreachable",
    ),
    pytest.param(
        [("min: 70", "min: 170")],
        [
            "10:21: grades[0].min: grade 'healthy' is never given: min 170 is above the scale "
            + SCALE
        ],
        id="a grade above the scale is unreachable",
    ),
    pytest.param(
        [("{name: at_risk, min: 0,", "{name: at_risk, min: 10,")],
        ["12:21: grades[2].min: scores below 10 have no grade (lower the min of 'at_risk' to 0)"],
        id="scores below the lowest grade should fail",
    ),
    pytest.param(
        [("{name: at_risk, min: 0,", "{name: at_risk, min: -10,")],
        [],
        id="a lowest grade below the scale min should be allowed",
    ),
    # --- caps and floors ---
    pytest.param(
        [("id: glowing_survey", "id: open_sev1")],
        [
            "81:5: floors[0].id: duplicate id 'open_sev1' (first at line 75; caps and floors "
            "share ids)"
        ],
        id="a floor reusing a cap's id should fail",
    ),
    pytest.param(
        [("{component: satisfaction,", "{component: satisfation,")],
        [
            "83:12: floors[0].when.component: unknown component 'satisfation' (did you mean "
            "'satisfaction'?)"
        ],
        id="a condition on an unknown component should suggest the closest",
    ),
    pytest.param(
        [("{severity: sev1, open: true}", "{severity: sev1, opened: true}")],
        [
            "77:54: caps[0].when.where.opened: unknown attribute 'opened' (did you mean 'open'? "
            "incident signals can be filtered on severity, service; flags open, resolved)"
        ],
        id="a condition's inline measurement should be checked like a component",
    ),
    pytest.param(
        [
            (
                "{component: satisfaction, at_least: 95}",
                "{component: satisfaction, window: 7d, at_least: 95}",
            )
        ],
        [
            "83:37: floors[0].when.window: 'window' does not apply to a condition on a component "
            "(a condition on a component reads its value; to filter signals use signal:)"
        ],
        id="measurement keys on a component condition should fail rather than be ignored",
    ),
    pytest.param(
        [("max: 40", "max: -5")],
        [f"78:5: caps[0].max: max -5 is outside the scale {SCALE}"],
        id="a cap below the scale should fail",
    ),
    pytest.param(
        [("min: 50", "min: 101")],
        [f"84:5: floors[0].min: min 101 is outside the scale {SCALE}"],
        id="a floor above the scale should fail",
    ),
    # --- segments ---
    pytest.param(
        [("weights: {responsiveness: 40}", "weights: {responsivness: 40}")],
        [
            "89:15: segments.enterprise.weights.responsivness: unknown component 'responsivness' "
            "(did you mean 'responsiveness'?)"
        ],
        id="a segment weight for an unknown component should fail",
    ),
    pytest.param(
        [
            (
                "      responsiveness:\n        window: 14d",
                "      responsivenes:\n        window: 14d",
            )
        ],
        [
            "91:7: segments.enterprise.components.responsivenes: unknown component "
            "'responsivenes' (did you mean 'responsiveness'?)"
        ],
        id="a segment override of an unknown component should fail",
    ),
    pytest.param(
        [("[[2, 100], [12, 60], [48, 0]]", "[[48, 100], [12, 60], [2, 0]]")],
        [
            "94:31: segments.enterprise.components.responsiveness.curve.points[1]: value 12 does "
            "not come after 48 (list points by increasing value)",
            "94:41: segments.enterprise.components.responsiveness.curve.points[2]: value 2 does "
            "not come after 12 (list points by increasing value)",
        ],
        id="a segment's overridden curve should be checked at the override",
    ),
    pytest.param(
        [("        window: 14d\n", "        window: 14d\n        signal: survey\n")],
        [
            "91:7: segments.enterprise.components.responsiveness.where.channel: unknown attribute "
            "'channel' (survey signals can be filtered on scale, survey; flags promoter, "
            "passive, detractor)"
        ],
        id="a base where made invalid by a segment's signal should be reported at the override",
    ),
    pytest.param(
        [("where: {channel: [email, ticket]}", "where: {chanel: [email, ticket]}")],
        [
            "23:13: components.responsiveness.where.chanel: unknown attribute 'chanel' (did you "
            "mean 'channel'? response_time signals can be filtered on channel, thread)"
        ],
        id="a base problem should not be repeated for a segment that overrides the component",
    ),
    # --- declared signals ---
    pytest.param(
        [
            (
                "  overdue_invoices:\n    description",
                "  survey:\n    unit: answers\n  overdue_invoices:\n    description",
            )
        ],
        [
            "15:3: signals.survey: custom signal 'survey' shadows the built-in kind (pick another "
            "name, or give the built-in kind only attrs: to filter on; built-in kinds are "
            "response_time, milestone, survey, incident, outcome)"
        ],
        id="a custom signal named like a built-in kind should fail",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), CASES)
def test_meaning_problems_are_found_at_the_offending_key(
    edits: list[Edit], expected: list[str]
) -> None:
    assert _findings(edits) == expected


def test_the_good_scorecard_has_no_findings() -> None:
    assert _findings([]) == []


def test_validate_scorecard_collects_every_problem_with_the_given_path() -> None:
    text = GOOD.replace("aggregate: p90", "aggregate: p9O").replace("max: 40", "max: 400")
    parsed = parse_yaml(text, "rules/scorecard.yaml")
    scorecard = Scorecard.model_validate(parsed.data)

    findings = validate_scorecard(scorecard, parsed.locator.locate, path="rules/scorecard.yaml")

    assert [(f.path, f.line, f.column, f.key) for f in findings] == [
        ("rules/scorecard.yaml", 24, 5, "components.responsiveness.aggregate"),
        ("rules/scorecard.yaml", 78, 5, "caps[0].max"),
    ]


@pytest.mark.parametrize(
    ("word", "candidates", "expected"),
    [
        pytest.param("p9O", AGGREGATE_NAMES, "p90", id="a letter O for a zero still finds p90"),
        pytest.param("Mean", AGGREGATE_NAMES, "mean", id="case does not matter"),
        pytest.param("wieght", ["window", "weight"], "weight", id="swapped letters are close"),
        pytest.param("abcd", ["abce", "abcf"], "abce", id="a tie goes to the earlier candidate"),
        pytest.param("colour", ["signal", "weight"], None, id="nothing close gives None"),
        pytest.param("anything", [], None, id="no candidates gives None"),
    ],
)
def test_did_you_mean(word: str, candidates: list[str], expected: str | None) -> None:
    assert did_you_mean(word, candidates) == expected
