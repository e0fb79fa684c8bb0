"""The score: missing-data policies, stale sources, weights, caps and floors, segments, grades.

Components read a custom ``metric`` kind with ``aggregate: latest`` and the identity curve, so a
client's points are the value of its newest ``metric`` event; everything runs through both engines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pytest
from scorer_builders import (
    AS_OF,
    GRADES,
    NAN,
    Ev,
    Score,
    card,
    clients,
    ev,
    same,
    signal_set,
)

from rapport.engine.frame import SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.result import Status
from rapport.engine.scoring import component_sums, evaluate

OK, MISSING, STALE = Status.OK, Status.MISSING, Status.STALE
KINDS = {"metric": {"attrs": ["team"]}, "other": {}}


def two(b: dict[str, Any] | None = None, **rest: Any) -> Scorecard:
    """Component ``a`` (weight 3) on ``metric`` and ``b`` (weight 1) on ``other``."""
    return card(
        {
            "a": {"signal": "metric", "aggregate": "latest", "weight": 3},
            "b": {"signal": "other", "aggregate": "latest", "weight": 1, **(b or {})},
        },
        signals=KINDS,
        **rest,
    )


def test_score_is_the_weighted_mean_of_points(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)], other=[ev(0, 1, 40)])
    result = score(two(), signals, 1)
    assert same(result.score, [70])  # (3·80 + 1·40) / 4
    assert same(result.weight[0], [0.75, 0.25])
    assert result.grade_names[result.grade[0]] == "watch"


def test_skip_leaves_a_component_out_and_renormalises_the_others(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)])
    result = score(two({"window": "30d"}), signals, 1)
    assert same(result.score, [80])
    assert same(result.weight[0], [1, 0])
    assert same(result.raw[0], [80, NAN])
    assert same(result.points[0], [80, NAN])
    assert result.status[0].tolist() == [OK, MISSING]
    assert result.notes == {(0, 1): "no signals in the 30d window"}


def test_neutral_scores_its_points_and_keeps_its_weight(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)])
    result = score(two({"missing": {"neutral": 50}}), signals, 1)
    assert same(result.score, [72.5])  # (3·80 + 1·50) / 4
    assert same(result.weight[0], [0.75, 0.25])
    assert same(result.raw[0], [80, NAN])
    assert result.status[0].tolist() == [OK, MISSING]
    assert result.notes == {(0, 1): "no data: neutral 50 (no signals)"}


CARRY = {"window": "7d", "missing": {"carry": "14d"}}


def test_carry_reuses_the_value_measured_at_the_last_signal(score: Score) -> None:
    # Client 0's last `other` signal is 10 days old: within 14 days, so its value is carried.
    signals = signal_set(1, metric=[ev(0, 1, 80)], other=[ev(0, 10, 40), ev(0, 12, 99)])
    result = score(two(CARRY), signals, 1)
    assert same(result.raw[0], [80, 40])
    assert same(result.points[0], [80, 40])
    assert same(result.score, [70])
    assert result.status[0].tolist() == [OK, STALE]
    assert result.notes == {(0, 1): "carried from 2026-05-22 (10d old)"}


def test_carry_beyond_its_age_behaves_like_skip(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)], other=[ev(0, 20, 40)])
    result = score(two(CARRY), signals, 1)
    assert same(result.raw[0], [80, NAN])
    assert same(result.weight[0], [1, 0])
    assert result.status[0].tolist() == [OK, MISSING]
    assert result.notes == {(0, 1): "no signals in the 1w window"}


@pytest.mark.parametrize(
    ("age", "carried"),
    [(14, True), (14.25, False)],
    ids=["a last signal exactly carry old is carried", "a quarter day older is not"],
)
def test_carry_age_limit_is_inclusive(score: Score, age: float, carried: bool) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)], other=[ev(0, age, 40)])
    result = score(two(CARRY), signals, 1)
    assert same(result.raw[0, 1:], [40 if carried else NAN])
    assert result.status[0, 1] == (STALE if carried else MISSING)


def test_carry_that_is_missing_even_then_behaves_like_skip(score: Score) -> None:
    # As of the last signal (10 days ago) the 7-day window holds one signal; two are needed.
    signals = signal_set(1, metric=[ev(0, 1, 80)], other=[ev(0, 10, 40), ev(0, 30, 50)])
    result = score(two({**CARRY, "aggregate": "mean", "min_count": 2}), signals, 1)
    assert same(result.raw[0], [80, NAN])
    assert result.status[0].tolist() == [OK, MISSING]
    assert result.notes == {(0, 1): "no signals in the 1w window"}


def test_carry_measures_derived_fields_as_of_the_last_signal(score: Score) -> None:
    # Due 10 days ago, delivered 5 days ago: missed as of now, but as of its due time (the last
    # signal, from which the carry measures) it was open and not yet late.
    scorecard = card(
        {
            "on_time": {
                "signal": "milestone",
                "aggregate": "ratio",
                "numerator": {"missed": True},
                "window": "7d",
                "missing": {"carry": "30d"},
            }
        }
    )
    result = score(scorecard, signal_set(1, milestone=[ev(0, 10, end=5)]), 1)
    assert same(result.raw[0], [0])
    assert result.status[0].tolist() == [STALE]


def test_carry_ignores_the_window_but_not_the_where(score: Score) -> None:
    b = {**CARRY, "where": {"team": "a"}, "signal": "metric"}
    events = [ev(0, 9, 30, team="a"), ev(0, 8, 60, team="b")]
    result = score(two(b), signal_set(1, metric=events), 1)
    assert same(result.raw[0], [60, 30])  # a: the newest event; b: carried from the team-a one
    assert result.notes == {(0, 1): "carried from 2026-05-23 (9d old)"}


@pytest.mark.parametrize(
    ("policy", "raw", "points", "weight", "note"),
    [
        ("skip", NAN, NAN, 0, "source for other is stale"),
        ({"neutral": 50}, NAN, 50, 0.25, "no data: neutral 50 (source for other is stale)"),
        (
            {"carry": "14d"},
            40,
            40,
            0.25,
            "carried from 2026-05-29 (3d old; source for other is stale)",
        ),
    ],
    ids=[
        "a stale source with skip is left out",
        "a stale source with neutral scores the neutral points",
        "a stale source with carry reuses the last value",
    ],
)
def test_stale_source_is_missing_and_marked_stale(
    score: Score, policy: Any, raw: float, points: float, weight: float, note: str
) -> None:
    signals = signal_set(1, stale={"other": [0]}, metric=[ev(0, 1, 80)], other=[ev(0, 3, 40)])
    result = score(two({"missing": policy}), signals, 1)
    assert same(result.raw[0], [80, raw])
    assert same(result.points[0], [80, points])
    assert same(result.weight[0, 1:], [weight])
    assert result.status[0].tolist() == [OK, STALE]
    assert result.notes == {(0, 1): note}


def test_no_component_with_points_means_no_score_and_no_grade(score: Score) -> None:
    result = score(two(), signal_set(2, metric=[ev(0, 1, 80)]), 2)
    assert same(result.score, [80, NAN])
    assert result.grade.tolist() == [0, -1]
    assert same(result.weight[1], [0, 0])
    assert result.records()[1].score is None


def limits_card(**rest: Any) -> Scorecard:
    cap = {
        "id": "a_high",
        "reason": "a is high",
        "when": {"component": "a", "above": 50},
        "max": 40,
    }
    floor = {
        "id": "b_low",
        "reason": "b is low",
        "when": {"component": "b", "below": 50},
        "min": 60,
    }
    return two(caps=[cap], floors=[floor], **rest)


@pytest.mark.parametrize(
    ("a", "b", "expected", "applied"),
    [
        (80, 40, 40, [True, True]),  # 70, floored to 70, capped to 40
        (30, 10, 60, [False, True]),  # 25, floored to 60
        (80, 90, 40, [True, False]),  # 82.5, capped to 40
        (40, 60, 45, [False, False]),
    ],
    ids=[
        "a cap wins over a floor",
        "a floor lifts the score",
        "a cap holds the score down",
        "no condition holds, no limit applies",
    ],
)
def test_caps_and_floors(
    score: Score, a: float, b: float, expected: float, applied: list[bool]
) -> None:
    signals = signal_set(1, metric=[ev(0, 1, a)], other=[ev(0, 1, b)])
    result = score(limits_card(), signals, 1)
    assert same(result.score, [expected])
    assert result.limit_applied[0].tolist() == applied


def test_a_limit_that_holds_without_moving_the_score_is_still_applied(score: Score) -> None:
    cap = {"id": "loose", "reason": "r", "when": {"component": "a", "at_least": 80}, "max": 95}
    scorecard = two(caps=[cap])
    signals = signal_set(1, metric=[ev(0, 1, 80)], other=[ev(0, 1, 40)])
    result = score(scorecard, signals, 1)
    assert same(result.score, [70])
    assert result.limit_applied.tolist() == [[True]]


def test_limits_are_listed_caps_first_then_floors_in_file_order(score: Score) -> None:
    result = score(limits_card(), signal_set(1), 1)
    assert result.limit_ids == ("a_high", "b_low")
    assert result.limit_kinds == ("cap", "floor")
    assert result.limit_values.tolist() == [40, 60]
    assert result.limit_reasons == ("a is high", "b is low")


def test_a_condition_over_missing_data_does_not_hold_and_nan_stays_nan(score: Score) -> None:
    result = score(limits_card(), signal_set(1), 1)
    assert np.isnan(result.score[0])
    assert result.limit_applied.tolist() == [[False, False]]


def test_inline_condition_counts_open_sev1_incidents_over_all_history(score: Score) -> None:
    cap = {
        "id": "open_sev1",
        "reason": "a sev1 is open",
        "when": {
            "signal": "incident",
            "where": {"severity": "sev1", "open": True},
            "aggregate": "count",
            "above": 0,
        },
        "max": 40,
    }
    incidents = [
        ev(0, 400, severity="sev1"),  # open for over a year: still counts
        ev(1, 3, end=1, severity="sev1"),  # resolved
        ev(2, 3, severity="sev2"),  # open, but not a sev1
    ]
    signals = signal_set(3, metric=[ev(i, 1, 90) for i in range(3)], incident=incidents)
    result = score(two(caps=[cap]), signals, 3)
    assert same(result.score, [40, 90, 90])
    assert result.limit_applied[:, 0].tolist() == [True, False, False]


def test_a_floor_condition_on_a_carried_value_compares_the_carried_raw(score: Score) -> None:
    floor = {"id": "f", "reason": "r", "when": {"component": "b", "at_most": 40}, "min": 75}
    signals = signal_set(1, metric=[ev(0, 1, 20)], other=[ev(0, 10, 40)])
    result = score(two(CARRY, floors=[floor]), signals, 1)
    assert result.limit_applied.tolist() == [[True]]
    assert same(result.score, [75])  # 25 before the floor


SEGMENTS = {
    "enterprise": {"weights": {"a": 1}},
    "smb": {"components": {"b": {"aggregate": "max", "weight": 3}}},
}


def test_segments_override_weights_and_components_per_client(score: Score) -> None:
    events = {
        "metric": [ev(i, 1, 80) for i in range(4)],
        "other": [e for i in range(4) for e in (ev(i, 2, 60), ev(i, 1, 20))],
    }
    who = clients(4, ["enterprise", "smb", None, "nonesuch"])
    result = score(two(segments=SEGMENTS), signal_set(4, **events), who)
    # enterprise: a weighs 1 → (80 + 20) / 2; smb: b is the max (60), weighing 3 → (240 + 180) / 6;
    # no segment and an unknown segment use the base: (240 + 20) / 4.
    assert same(result.score, [50, 70, 65, 65])
    assert same(result.raw[:, 1], [20, 60, 20, 20])
    assert same(result.weight[:, 0], [0.5, 0.5, 0.75, 0.75])


@pytest.mark.parametrize(
    ("value", "grade"),
    [(100, "healthy"), (75, "healthy"), (74.99, "watch"), (50, "watch"), (0, "at_risk")],
    ids=[
        "the top score is healthy",
        "a grade starts at its min",
        "just below a min is the grade beneath",
        "watch starts at 50",
        "zero is at risk",
    ],
)
def test_grade_is_the_highest_min_at_or_below_the_score(
    score: Score, value: float, grade: str
) -> None:
    result = score(two(), signal_set(1, metric=[ev(0, 1, value)]), 1)
    assert result.grade_names[result.grade[0]] == grade


def test_no_clients_give_empty_results(score: Score) -> None:
    result = score(limits_card(), signal_set(0), 0)
    assert result.score.shape == (0,)
    assert result.raw.shape == result.status.shape == (0, 2)
    assert result.limit_applied.shape == (0, 2)
    assert result.notes == {}


def test_no_signals_at_all(score: Score) -> None:
    scorecard = card(
        {
            "count": {
                "signal": "incident",
                "aggregate": "count",
                "curve": {"linear": {"best": 0, "worst": 5}},
            },
            "mean": {"signal": "response_time", "aggregate": "mean", "window": "30d"},
        }
    )
    covered = {"incident": np.ones(2, dtype=np.bool_)}  # a fresh incident collector maps both
    result = score(scorecard, SignalSet({}, covered=covered), 2)
    assert same(result.raw[:, 0], [0, 0])
    assert same(result.score, [100, 100])
    assert result.status[:, 1].tolist() == [MISSING, MISSING]
    assert result.notes[(1, 1)] == "no signals in the 30d window"

    # Without a source known to cover the clients, no incidents is not a measured 0: no score.
    unknown = score(scorecard, SignalSet({}), 2)
    assert same(unknown.raw[:, 0], [NAN, NAN])
    assert unknown.status[:, 0].tolist() == [MISSING, MISSING]
    assert same(unknown.score, [NAN, NAN])


def test_a_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(two(), clients(1), signal_set(1), datetime(2026, 6, 1), "test")


def test_records_carry_the_explanation(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)])
    record = score(limits_card(), signals, 1).records()[0]
    assert record.score == 40
    assert record.grade == "at_risk"
    assert record.components["b"].status == "missing"
    assert record.components["a"].weight == 1
    assert [limit.id for limit in record.limits] == ["a_high"]
    assert record.as_of == AS_OF


def test_evaluation_is_repeatable_and_leaves_its_inputs_alone() -> None:
    events: list[Ev] = [ev(0, 1, 80), ev(1, 2, 30)]
    signals = signal_set(2, metric=events, other=[ev(0, 10, 40)])
    before = signals.kinds["metric"].value.copy()
    first = evaluate(two(CARRY), clients(2), signals, AS_OF, "v1")
    second = evaluate(two(CARRY), clients(2), signals, AS_OF, "v1")
    assert same(first.score, second.score)
    assert first.notes == second.notes
    assert np.array_equal(signals.kinds["metric"].value, before)


def test_grade_names_follow_the_file(score: Score) -> None:
    assert score(two(), signal_set(1), 1).grade_names == tuple(g["name"] for g in GRADES)


@pytest.mark.parametrize("components", range(10), ids=lambda n: f"{n} components")
def test_component_sums_are_numpys_row_sums_bit_for_bit(components: int) -> None:
    rng = np.random.default_rng(components)
    # magnitudes 1e-8 … 1e8 make every order of addition round differently; NaN and -0.0 too
    shape = (2000, components)
    table = rng.normal(size=shape) * 10.0 ** rng.integers(-8, 9, size=shape)
    table[rng.random(shape) < 0.01] = np.nan
    table[rng.random(shape) < 0.01] = -0.0
    got, want = component_sums(np.ascontiguousarray(table.T)), table.sum(axis=1)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
