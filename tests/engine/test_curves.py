"""Curves turn raw values into points: bands, piecewise points and linear, clipped to the scale.

Each client gets one ``metric`` event whose value is its raw value; both engines score it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scorer_builders import Score, card, ev, same, signal_set

from rapport.engine.curves import apply_curve
from rapport.engine.model import Curve, Scale

BANDS = {
    "bands": [
        {"max": 10, "points": 100},
        {"min": 10, "max": 20, "points": 50},
        {"min": 30, "max": 40, "points": 20},  # a gap from 20 to 30
    ]
}
CLOSED_BANDS = {
    "bands": [{"min": 0, "max": 10, "points": 90}, {"min": 10, "max": 20, "points": 10}]
}
INCLUSIVE = {
    "bands": [
        {"at_most": 0.2, "points": 75},
        {"above": 0.2, "at_most": 0.5, "points": 60},
        {"above": 0.5, "points": 10},
    ]
}
MIXED = {
    "bands": [
        {"below": 1, "points": 90},
        {"at_least": 1, "at_most": 1, "points": 50},  # exactly 1
        {"above": 1, "points": 5},
    ]
}
POINTS = {"points": [[4, 100], [24, 60], [72, 0]]}
LOWER_IS_BETTER = {"linear": {"best": 0, "worst": 30}}
HIGHER_IS_BETTER = {"linear": {"best": 90, "worst": 40}}
OVERSHOOT = {"points": [[0, -50], [10, 150]]}


def points_for(
    score: Score, curve: dict[str, Any], values: list[float], **rest: Any
) -> list[float]:
    scorecard = card(
        {"c": {"signal": "metric", "aggregate": "latest", "curve": curve}},
        signals={"metric": {}},
        **rest,
    )
    signals = signal_set(len(values), metric=[ev(i, 1, v) for i, v in enumerate(values)])
    return [float(p) for p in score(scorecard, signals, len(values)).points[:, 0]]


@pytest.mark.parametrize(
    ("curve", "values", "expected"),
    [
        (BANDS, [5, -1000], [100, 100]),
        (BANDS, [10, 19.999], [50, 50]),
        (BANDS, [20, 24], [50, 50]),
        (BANDS, [26, 30], [20, 20]),
        (BANDS, [40, 1000], [20, 20]),
        (CLOSED_BANDS, [-5, 0, 20, 25], [90, 90, 10, 10]),
        (INCLUSIVE, [0.19999, 0.2, 0.20001], [75, 75, 60]),
        (INCLUSIVE, [0.5, 0.50001, -3, 9], [60, 10, 75, 10]),
        (MIXED, [0.99999, 1, 1.00001], [90, 50, 5]),
        (POINTS, [0, 4, 14, 48, 72, 100], [100, 100, 80, 30, 0, 0]),
        (LOWER_IS_BETTER, [-1, 0, 15, 30, 40], [100, 100, 50, 0, 0]),
        (HIGHER_IS_BETTER, [95, 90, 65, 40, 0], [100, 100, 50, 0, 0]),
        (OVERSHOOT, [0, 5, 10], [0, 50, 100]),
    ],
    ids=[
        "a band's values and anything below the first band score the first band",
        "a band includes its min and excludes its max",
        "a value in a gap just above a band scores that band",
        "a value in a gap nearer the next band scores the next band",
        "a value at or above the last band's max scores the last band",
        "closed bands clamp below the first and above the last",
        "at_most includes its value and the next band's above excludes it",
        "an inclusive upper end holds its value and open ends reach every value",
        "below, at_least with at_most, and above score one exact value apart",
        "points interpolate linearly and clamp at both ends",
        "linear with best below worst scores lower values higher",
        "linear with best above worst scores higher values higher",
        "points beyond the scale are clipped to it",
    ],
)
def test_curve(
    score: Score, curve: dict[str, Any], values: list[float], expected: list[float]
) -> None:
    assert same(points_for(score, curve, values), expected)


def test_linear_spans_a_custom_scale(score: Score) -> None:
    got = points_for(
        score, {"linear": {"best": 10, "worst": 0}}, [5, 20], scale={"min": 1, "max": 5}
    )
    assert same(got, [3, 5])


def test_missing_values_have_no_points() -> None:
    for curve in (BANDS, POINTS, LOWER_IS_BETTER):
        points = apply_curve(Curve.model_validate(curve), Scale(), np.array([np.nan, 5.0]))
        assert np.isnan(points[0])
        assert not np.isnan(points[1])
