"""The table of aggregates: its traits, and what each engine and validation make of them."""

from __future__ import annotations

from typing import Any

import pytest
from scorer_builders import NAN, Score, card, ev, raw_of, same, signal_set

from rapport.engine.aggregate_table import (
    AGGREGATE_NAMES,
    AGGREGATES,
    aggregate_named,
    listing,
    percentile_of,
    takes_numerator,
)
from rapport.engine.result import Status
from rapport.engine.validate import validate_scorecard

LINEAR = {"linear": {"best": 100, "worst": -100}}
NPS = {"nps": {"signal": "survey", "aggregate": "nps", "curve": LINEAR}}


def _nowhere(loc: Any) -> tuple[int, int]:
    return 1, 1


def test_nps_without_surveys_is_valid_and_missing_for_lack_of_events(score: Score) -> None:
    scorecard = card(NPS)
    assert validate_scorecard(scorecard, _nowhere) == []
    result = score(scorecard, signal_set(1, survey=[]), 1)
    assert same(result.raw[:, 0], [NAN])
    assert result.status[0, 0] == Status.MISSING
    assert result.notes[(0, 0)] == "no signals"


def test_nps_does_not_count_a_survey_without_an_answer(score: Score) -> None:
    # nps reads the answer (it is not a counting aggregate): the unanswered survey is no passive.
    surveys = [ev(0, 1, 10, scale="nps"), ev(0, 2, NAN, scale="nps"), ev(1, 1, NAN, scale="nps")]
    assert same(raw_of(score, card(NPS), signal_set(2, survey=surveys), 2), [100, NAN])


def test_count_and_ratio_count_events_whatever_their_measure(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, NAN, team="a"), ev(0, 2, 5, team="b")])
    kinds = {"metric": {"attrs": ["team"]}}
    counted = card({"c": {"signal": "metric", "aggregate": "count"}}, signals=kinds)
    ratio = card(
        {"c": {"signal": "metric", "aggregate": "ratio", "numerator": {"team": "a"}}},
        signals=kinds,
    )
    assert same(raw_of(score, counted, signals, 1), [2])
    assert same(raw_of(score, ratio, signals, 1), [0.5])


@pytest.mark.parametrize(
    ("name", "min_count", "needed"),
    [
        pytest.param("count", 5, 0, id="count needs no events: none is a count of 0"),
        pytest.param("sum", 5, 0, id="sum needs no events: none is a sum of 0"),
        pytest.param("mean", 3, 3, id="mean needs min_count events"),
        pytest.param("trend", 1, 2, id="trend needs at least two events whatever min_count says"),
        pytest.param("trend", 4, 4, id="trend needs min_count events when that is more"),
        pytest.param("p90", 2, 2, id="a percentile needs min_count events"),
    ],
)
def test_events_needed(name: str, min_count: int, needed: int) -> None:
    found = aggregate_named(name)
    assert found is not None
    assert found.needed(min_count) == needed


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("p90", 90.0, id="p90 is the 90th percentile"),
        pytest.param("p1", 1.0, id="p1 is the lowest percentile"),
        pytest.param("p99", 99.0, id="p99 is the highest percentile"),
        pytest.param("p0", None, id="p0 is not a percentile"),
        pytest.param("p100", None, id="p100 is not a percentile"),
        pytest.param("p05", None, id="a leading zero is not a percentile"),
        pytest.param("median", None, id="median is an aggregate of its own"),
    ],
)
def test_percentile_names(name: str, expected: float | None) -> None:
    assert percentile_of(name) == expected
    assert (aggregate_named(name) is not None) == (expected is not None or name in AGGREGATES)


def test_every_offered_name_is_known_and_keeps_its_name() -> None:
    for name in AGGREGATE_NAMES:
        found = aggregate_named(name)
        assert found is not None and found.name == name


def test_listing_names_every_aggregate_and_the_percentile_pattern() -> None:
    expected = "count, sum, mean, median, min, max, latest, ratio, trend, nps, p1 … p99"
    assert listing() == expected


def test_only_ratio_takes_a_numerator_and_only_counting_ones_ignore_the_measure() -> None:
    assert takes_numerator() == ("ratio",)
    assert [name for name, a in AGGREGATES.items() if a.counts] == ["count", "ratio"]


@pytest.mark.parametrize("name", AGGREGATE_NAMES, ids=lambda n: f"{n} runs in both engines")
def test_every_aggregate_runs_in_both_engines(score: Score, name: str) -> None:
    kind = "survey" if name == "nps" else "metric"
    spec: dict[str, Any] = {"signal": kind, "aggregate": name, "curve": LINEAR}
    if name == "ratio":
        spec["numerator"] = {"team": "a"}
    scorecard = card({"c": spec}, signals={"metric": {"attrs": ["team"]}})
    assert validate_scorecard(scorecard, _nowhere) == []
    events = [ev(0, 1, 9, team="a", scale="nps"), ev(0, 2, 3, team="b", scale="nps")]
    result = score(scorecard, signal_set(1, **{kind: events}), 1)
    assert result.status[0, 0] == Status.OK
