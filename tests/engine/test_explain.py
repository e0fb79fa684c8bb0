"""engine.explain on hand-built scores: the words, the caps that bound, the change, the text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from rapport.engine.explain import Explanation, describe_measurement, explain
from rapport.engine.explain_text import render_explanation
from rapport.engine.model import Measurement, Scorecard
from rapport.engine.result import AppliedLimit, ClientScore, ComponentScore

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 6, 23, tzinfo=UTC)

SCORECARD = Scorecard.model_validate(
    {
        "version": 1,
        "grades": [
            {"name": "healthy", "min": 75, "color": "#2e7d32"},
            {"name": "watch", "min": 50, "color": "#f9a825"},
            {"name": "at_risk", "min": 0, "color": "#c62828"},
        ],
        "signals": {"overdue_invoices": {"unit": "EUR overdue", "attrs": ["currency"]}},
        "components": {
            "responsiveness": {
                "description": "How quickly we answer.",
                "signal": "response_time",
                "where": {"channel": ["email", "ticket"]},
                "aggregate": "p90",
                "window": "30d",
                "min_count": 3,
                "weight": 60,
                "curve": {"points": [[4, 100], [24, 60], [72, 0]]},
                "missing": {"carry": "14d"},
            },
            "delivery_on_time": {
                "signal": "milestone",
                "aggregate": "ratio",
                "numerator": {"missed": True},
                "window": "90d",
                "weight": 20,
                "curve": {"bands": [{"max": 0.5, "points": 100}, {"min": 0.5, "points": 0}]},
                "missing": {"neutral": 70},
            },
            "satisfaction_trend": {
                "signal": "survey",
                "measure": "normalized",
                "aggregate": "trend",
                "window": "180d",
                "min_count": 3,
                "weight": 20,
                "curve": {"points": [[-0.4, 0], [0, 90]]},
            },
        },
        "caps": [
            {
                "id": "open_sev1",
                "reason": "A sev1 incident is open.",
                "when": {
                    "signal": "incident",
                    "where": {"severity": "sev1", "open": True},
                    "aggregate": "count",
                    "above": 0,
                },
                "max": 40,
            }
        ],
        "segments": {
            "enterprise": {
                "weights": {"responsiveness": 70},
                "components": {"responsiveness": {"window": "14d"}},
            }
        },
    }
)


def part(
    value: float | None,
    points: float | None,
    weight: float,
    status: str = "ok",
    note: str | None = None,
) -> ComponentScore:
    contribution = (points or 0.0) * weight
    return ComponentScore.model_validate(
        {
            "value": value,
            "points": points,
            "weight": weight,
            "contribution": contribution,
            "status": status,
            "note": note,
        }
    )


def score(
    total: float | None,
    grade: str | None,
    components: dict[str, ComponentScore],
    limits: list[AppliedLimit] | None = None,
    as_of: datetime = AS_OF,
) -> ClientScore:
    return ClientScore(
        client="acme",
        as_of=as_of,
        score=total,
        grade=grade,
        rules_version="abc123",
        components=components,
        limits=limits or [],
    )


OPEN_SEV1 = AppliedLimit(id="open_sev1", kind="cap", limit=40, reason="A sev1 incident is open.")

# Weights 60 and 20 of the components with data renormalise to 75% and 25% (the trend is skipped).
# Now: 60 x 0.75 = 45 plus 70 x 0.25 = 17.5 makes 62.5, capped at 40 by the open sev1.
CURRENT = score(
    40.0,
    "at_risk",
    {
        "responsiveness": part(24.0, 60.0, 0.75),
        "delivery_on_time": part(None, 70.0, 0.25, "missing", "no data: neutral 70"),
        "satisfaction_trend": part(None, None, 0.0, "missing", "2 signals, 3 needed"),
    },
    [OPEN_SEV1],
)
# A week before: 96 x 0.75 = 72 plus 100 x 0.25 = 25 makes 97.
PREVIOUS = score(
    97.0,
    "healthy",
    {
        "responsiveness": part(6.0, 96.0, 0.75),
        "delivery_on_time": part(0.0, 100.0, 0.25),
        "satisfaction_trend": part(None, None, 0.0, "missing", "2 signals, 3 needed"),
    },
    as_of=WEEK_BEFORE,
)

EXPECTED_TEXT = """\
acme: 40.0 (at_risk) as of 2026-06-30 00:00 UTC, rules abc123

Components (points x weight = contribution):
  responsiveness      60.0 x 75.0% = 45.0  [ok]
      How quickly we answer.
      p90 of response_time hours over 30d where channel in [email, ticket] (at least 3 needed): 24
  delivery_on_time    70.0 x 25.0% = 17.5  [missing: no data: neutral 70]
      share of milestone signals over 90d that are missed: no value
      missing data -> neutral: scored 70 points for lack of data
  satisfaction_trend  left out  [missing: 2 signals, 3 needed]
      trend per day of survey normalized (0-100) over 180d (at least 3 needed): no value
      missing data -> skip: left out; its weight went to the other components

Caps and floors (weighted average 62.5):
  open_sev1 (cap at 40): set the score
      A sev1 incident is open.

Since 2026-06-23 00:00 UTC: 97.0 -> 40.0 (-57.0), grade healthy -> at_risk
  responsiveness    -27.0 (72.0 -> 45.0; points 96.0 -> 60.0)
  delivery_on_time  -7.5 (25.0 -> 17.5; points 100.0 -> 70.0)
  open_sev1 now holds (it did not then)"""


def test_rendered_explanation_names_every_component_the_cap_and_the_change() -> None:
    assert render_explanation(explain(CURRENT, SCORECARD, PREVIOUS)) == EXPECTED_TEXT


def test_explanation_carries_the_numbers_the_text_is_made_of() -> None:
    e = explain(CURRENT, SCORECARD, PREVIOUS)
    assert (e.score, e.grade, e.unlimited_score) == (40.0, "at_risk", 62.5)
    assert [(c.id, c.weight_pct, c.contribution) for c in e.components] == [
        ("responsiveness", 75.0, 45.0),
        ("delivery_on_time", 25.0, 17.5),
        ("satisfaction_trend", 0.0, 0.0),
    ]
    assert [c.policy is None for c in e.components] == [True, False, False]
    assert e.change is not None
    assert (e.change.score_delta, e.change.grade_changed) == (-57.0, True)
    assert [(m.id, m.delta) for m in e.change.movers] == [
        ("responsiveness", -27.0),
        ("delivery_on_time", -7.5),
    ]


def test_explanation_survives_a_json_round_trip() -> None:
    e = explain(CURRENT, SCORECARD, PREVIOUS, segment="enterprise")
    assert Explanation.model_validate_json(e.model_dump_json()) == e


def test_a_segment_is_explained_with_its_own_component_variant() -> None:
    e = explain(CURRENT, SCORECARD, segment="enterprise")
    assert e.segment == "enterprise"
    assert e.components[0].measured.startswith("p90 of response_time hours over 14d ")
    assert render_explanation(e).splitlines()[0].endswith(", rules abc123, segment enterprise")


def test_an_unscored_client_says_so_and_lists_no_limits() -> None:
    empty = score(
        None,
        None,
        {"responsiveness": part(None, None, 0.0, "stale", "carried value too old")},
    )
    e = explain(empty, SCORECARD)
    assert e.unlimited_score is None
    assert render_explanation(e).splitlines() == [
        "acme: no score (no component had data) as of 2026-06-30 00:00 UTC, rules abc123",
        "",
        "Components (points x weight = contribution):",
        "  responsiveness  left out  [stale: carried value too old]",
        "      How quickly we answer.",
        "      p90 of response_time hours over 30d where channel in [email, ticket]"
        " (at least 3 needed): no value",
        "      missing data -> skip: left out; its weight went to the other components"
        " (nothing to carry within 14d)",
    ]


def test_a_carried_component_says_its_value_was_reused() -> None:
    carried = score(
        88.0, "healthy", {"responsiveness": part(5.0, 98.0, 1.0, "stale", "carried (12d old)")}
    )
    (component,) = explain(carried, SCORECARD).components
    assert component.policy == "carry: reused the last measured value (at most 14d old)"


def test_a_component_the_scorecard_no_longer_has_is_described_as_unknown() -> None:
    old = score(50.0, "watch", {"retired": part(3.0, 50.0, 1.0)})
    (component,) = explain(old, SCORECARD).components
    assert (component.measured, component.description) == ("not in the current scorecard", "")


def limit(kind: Literal["cap", "floor"], value: float, name: str) -> AppliedLimit:
    return AppliedLimit(id=name, kind=kind, limit=value, reason=f"{name} holds")


@pytest.mark.parametrize(
    ("average", "limits", "final", "bound"),
    [
        pytest.param(
            62.5, [limit("cap", 40, "c")], 40.0, [True], id="a cap below the average sets the score"
        ),
        pytest.param(
            30.0,
            [limit("cap", 40, "c")],
            30.0,
            [False],
            id="a cap above the average holds but sets nothing",
        ),
        pytest.param(
            30.0,
            [limit("floor", 50, "f")],
            50.0,
            [True],
            id="a floor above the average sets the score",
        ),
        pytest.param(
            60.0,
            [limit("floor", 50, "f")],
            60.0,
            [False],
            id="a floor below the average sets nothing",
        ),
        pytest.param(
            30.0,
            [limit("cap", 40, "c"), limit("floor", 50, "f")],
            40.0,
            [True, False],
            id="a cap over a raised floor sets the score and the floor does not",
        ),
        pytest.param(
            80.0,
            [limit("cap", 60, "high"), limit("cap", 40, "low")],
            40.0,
            [False, True],
            id="of two caps only the lower sets the score",
        ),
    ],
)
def test_whether_a_limit_bound_the_score(
    average: float, limits: list[AppliedLimit], final: float, bound: list[bool]
) -> None:
    current = score(final, "watch", {"responsiveness": part(10.0, average, 1.0)}, limits)
    assert [lim.bound for lim in explain(current, SCORECARD).limits] == bound


def test_the_change_lists_the_three_biggest_moves_by_size() -> None:
    weights = {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25, "same": 0.0}
    before = {"a": 80.0, "b": 80.0, "c": 80.0, "d": 80.0, "same": 50.0}
    after = {"a": 60.0, "b": 100.0, "c": 76.0, "d": 40.0, "same": 50.0}
    then = score(
        80.0, "healthy", {k: part(1.0, before[k], w) for k, w in weights.items()}, as_of=WEEK_BEFORE
    )
    now = score(69.0, "watch", {k: part(1.0, after[k], w) for k, w in weights.items()})
    change = explain(now, SCORECARD, then).change
    assert change is not None
    # Contributions move by a -5, b +5, c -1, d -10; ties keep scorecard order.
    assert [(m.id, m.delta) for m in change.movers] == [("d", -10.0), ("a", -5.0), ("b", 5.0)]
    assert change.score_delta == pytest.approx(-11.0)


def test_a_previously_unscored_client_has_no_delta_but_a_grade_change() -> None:
    then = score(
        None, None, {"responsiveness": part(None, None, 0.0, "missing")}, as_of=WEEK_BEFORE
    )
    change = explain(CURRENT, SCORECARD, then).change
    assert change is not None
    assert (change.score_delta, change.previous_grade, change.grade_changed) == (None, None, True)
    assert (
        "Since 2026-06-23 00:00 UTC: no score -> 40.0, grade None -> at_risk"
        in render_explanation(explain(CURRENT, SCORECARD, then))
    )


def measurement(**fields: Any) -> Measurement:
    return Measurement.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        pytest.param(
            {
                "signal": "response_time",
                "aggregate": "p90",
                "window": "30d",
                "where": {"channel": ["email", "ticket"]},
            },
            "p90 of response_time hours over 30d where channel in [email, ticket]",
            id="a percentile names its unit and its filter",
        ),
        pytest.param(
            {
                "signal": "milestone",
                "aggregate": "ratio",
                "numerator": {"missed": True},
                "window": "90d",
            },
            "share of milestone signals over 90d that are missed",
            id="a ratio names its numerator",
        ),
        pytest.param(
            {
                "signal": "incident",
                "aggregate": "count",
                "where": {"severity": "sev1", "open": True},
            },
            "count of incident signals over all history where severity = sev1 and open",
            id="a count without a window reads all history and flags read as words",
        ),
        pytest.param(
            {
                "signal": "incident",
                "aggregate": "sum",
                "window": "30d",
                "measure": {"from": "severity", "map": {"sev1": 10, "sev2": 5}},
            },
            "sum of incident severity weights (sev1=10, sev2=5) over 30d",
            id="an attribute measure lists its weights",
        ),
        pytest.param(
            {
                "signal": "milestone",
                "aggregate": "mean",
                "measure": "late_days",
                "where": {"delivered": False},
            },
            "mean of milestone days late over all history where not delivered",
            id="a false flag reads as not",
        ),
        pytest.param(
            {"signal": "survey", "aggregate": "nps", "window": "2w", "min_count": 5},
            "NPS (promoters% - detractors%) of survey answers over 14d (at least 5 needed)",
            id="nps names its formula and min_count shows",
        ),
        pytest.param(
            {
                "signal": "overdue_invoices",
                "aggregate": "latest",
                "window": "36h",
                "where": {"currency": "EUR"},
            },
            "latest of overdue_invoices EUR overdue over 36h where currency = EUR",
            id="a declared signal uses its unit",
        ),
        pytest.param(
            {
                "signal": "survey",
                "aggregate": "median",
                "measure": "age_days",
                "where": {"survey": 3},
            },
            "median of survey age_days over all history where survey = 3",
            id="a measure without a phrase is named as written",
        ),
    ],
)
def test_measurements_in_words(fields: dict[str, Any], words: str) -> None:
    assert describe_measurement(measurement(**fields), SCORECARD) == words


# --- comparisons with 7 and 30 days before --------------------------------------------------------

MONTH_BEFORE = datetime(2026, 5, 31, tzinfo=UTC)


def test_comparisons_name_the_movers_and_say_when_history_is_short() -> None:
    # 7 days before is PREVIOUS (97, healthy); nothing is stored 30 days before.
    e = explain(CURRENT, SCORECARD, earlier={"7d": PREVIOUS, "30d": None})
    week, month = e.comparisons
    assert week.change is not None and week.change.score_delta == pytest.approx(-57.0)
    assert [(m.id, m.points_before, m.points_after) for m in week.change.movers] == [
        ("responsiveness", 96.0, 60.0),
        ("delivery_on_time", 100.0, 70.0),
    ]
    assert month.change is None and month.cutoff == MONTH_BEFORE
    text = render_explanation(e)
    assert (
        "7 days before (stored 2026-06-23 00:00 UTC): 97.0 -> 40.0 (-57.0), grade healthy -> "
        "at_risk\n"
        "  responsiveness    -27.0 (72.0 -> 45.0; points 96.0 -> 60.0)\n"
        "  delivery_on_time  -7.5 (25.0 -> 17.5; points 100.0 -> 70.0)\n"
        "  open_sev1 now holds (it did not then)\n"
        "30 days before: no stored score at or before 2026-05-31 00:00 UTC"
    ) in text
    assert "Since" not in text  # no separate `previous` was given


def test_a_score_nearer_than_the_span_is_not_compared_under_its_label() -> None:
    # A score from yesterday handed in as "7 days before" is refused: it is not that far back.
    yesterday = PREVIOUS.model_copy(update={"as_of": datetime(2026, 6, 29, tzinfo=UTC)})
    (week,) = explain(CURRENT, SCORECARD, earlier={"7d": yesterday}).comparisons
    assert week.change is None
