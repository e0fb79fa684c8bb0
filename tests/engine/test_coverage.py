"""Coverage: the share of a client's (segment's) weight measured from signals, and the
``insufficient_data`` grade below the scorecard's ``min_coverage``; through both engines."""

from __future__ import annotations

from typing import Any

import pytest
from scorer_builders import NAN, Score, card, ev, same, signal_set

from rapport.engine.frame import ClientSet
from rapport.engine.model import Scorecard
from rapport.engine.result import INSUFFICIENT_DATA

KINDS = {"metric": {}, "other": {}, "third": {}}


def three(**rest: Any) -> Scorecard:
    """``a`` (weight 3) on metric, ``b`` (weight 1, neutral 50) on other, ``c`` (weight 2,
    count, skipped when missing) on third; segment ``big`` weighs ``a`` 6."""
    return card(
        {
            "a": {"signal": "metric", "aggregate": "latest", "weight": 3},
            "b": {
                "signal": "other",
                "aggregate": "latest",
                "weight": 1,
                "missing": {"neutral": 50},
            },
            "c": {"signal": "third", "aggregate": "count", "weight": 2},
        },
        signals=KINDS,
        segments={"big": {"weights": {"a": 6}}},
        **rest,
    )


def test_coverage_is_the_weight_share_of_the_components_with_data(score: Score) -> None:
    # Both clients have only a's data: b is neutral (not measured), c has no events and no source.
    who = ClientSet.of(["plain", "big"], [None, "big"])
    signals = signal_set(2, metric=[ev(0, 1, 80), ev(1, 1, 80)])
    result = score(three(), signals, who)
    # plain: 3 / (3 + 1 + 2) = 0.5; big: 6 / (6 + 1 + 2) = 2/3
    assert same(result.coverage, [0.5, round(2 / 3, 9)])
    records = result.records()
    assert [r.covered for r in records] == [["a"], ["a"]]
    assert [r.coverage for r in records] == [0.5, round(2 / 3, 9)]


def test_a_neutral_or_covered_zero_count_is_or_is_not_coverage(score: Score) -> None:
    # A fresh collector of `third` maps the client: c is a measured 0 (ok); b stays neutral.
    signals = signal_set(1, covered={"third": [0]}, metric=[ev(0, 1, 80)])
    result = score(three(), signals, 1)
    assert same(result.coverage, [5 / 6])  # (3 + 2) / 6
    assert result.records()[0].covered == ["a", "c"]


def test_no_signals_at_all_is_insufficient_data_not_healthy(score: Score) -> None:
    result = score(three(min_coverage=0.5), signal_set(1), 1)
    record = result.records()[0]
    # b's neutral 50 alone would be a score of 50 over the weight b keeps.
    assert record.grade == INSUFFICIENT_DATA
    assert record.score is None
    assert record.provisional_score == 50
    assert record.coverage == 0
    assert record.covered == []
    assert same(result.score, [NAN])
    assert result.grade.tolist() == [-1]


@pytest.mark.parametrize(
    ("min_coverage", "insufficient"),
    [(0.5, False), (0.500000001, True), (0.0, False)],
    ids=[
        "coverage exactly at min_coverage is graded",
        "coverage a hair below min_coverage is insufficient data",
        "min_coverage 0 grades every score",
    ],
)
def test_min_coverage_boundary(score: Score, min_coverage: float, insufficient: bool) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 80)])  # coverage 3 / 6 = 0.5
    result = score(three(min_coverage=min_coverage), signals, 1)
    record = result.records()[0]
    assert record.coverage == 0.5
    # (3·80 + 1·50) / 4 = 72.5
    if insufficient:
        assert (record.grade, record.score, record.provisional_score) == (
            INSUFFICIENT_DATA,
            None,
            72.5,
        )
    else:
        assert (record.grade, record.score, record.provisional_score) == ("watch", 72.5, None)
