"""Every aggregate, window, filter and measure on small hand-computed cases, in both engines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scorer_builders import NAN, Ev, Score, card, ev, raw_of, same, signal_set

from rapport.engine import aggregates

METRIC = {"metric": {"attrs": ["team", "tier"]}}
# Client 0: values 4, 1, 3, 10, 2 at 5, 4, 3, 2 and 1 days before as_of. Client 1: nothing.
SERIES = [ev(0, 5, 4), ev(0, 4, 1), ev(0, 3, 3), ev(0, 2, 10), ev(0, 1, 2)]
# A fresh collector of the kind maps both clients, so no events is a measured zero.
COVERED = {"metric": [0, 1]}


def metric_card(**spec: Any) -> Any:
    return card({"c": {"signal": "metric", **spec}}, signals=METRIC)


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        ("count", [5, 0]),
        ("sum", [20, 0]),
        ("mean", [4, NAN]),
        ("median", [3, NAN]),
        ("min", [1, NAN]),
        ("max", [10, NAN]),
        ("p50", [3, NAN]),
        ("p75", [4, NAN]),  # position 3 of sorted 1 2 3 4 10
        ("p90", [7.6, NAN]),  # position 3.6: 4 + 0.6 * (10 - 4)
        ("p1", [1.04, NAN]),  # position 0.04: 1 + 0.04 * (2 - 1)
        ("latest", [2, NAN]),
        ("trend", [0.5, NAN]),  # x = -5..-1 days, centred sums 5 / 10
    ],
    ids=[
        "count counts the events",
        "sum adds the values",
        "mean divides the sum by the count",
        "median is the middle value",
        "min is the smallest value",
        "max is the largest value",
        "p50 is the median",
        "p75 lands on the fourth sorted value",
        "p90 interpolates between the two largest values",
        "p1 interpolates between the two smallest values",
        "latest is the value of the newest event",
        "trend is the least-squares slope per day",
    ],
)
def test_aggregate_over_five_values(score: Score, aggregate: str, expected: list[float]) -> None:
    signals = signal_set(2, covered=COVERED, metric=SERIES)
    raw = raw_of(score, metric_card(aggregate=aggregate), signals, 2)
    assert same(raw, expected)


@pytest.mark.parametrize(
    ("aggregate", "status"),
    [("count", 0), ("sum", 0), ("mean", 1), ("latest", 1)],
    ids=[
        "count over no events with a covering source is a measured 0",
        "sum over no events with a covering source is a measured 0",
        "mean over no events is missing",
        "latest over no events is missing",
    ],
)
def test_empty_client_status(score: Score, aggregate: str, status: int) -> None:
    result = score(
        metric_card(aggregate=aggregate), signal_set(2, covered=COVERED, metric=SERIES), 2
    )
    assert int(result.status[1, 0]) == status


# Client 0 has only an old event (40 days ago, outside the 30d window); client 1 has none; client
# 2 has none but a fresh collector of the kind maps it; client 3 has an event after as_of only.
NO_EVENTS_IN_WINDOW = [ev(0, 40, 5), ev(3, -1, 5)]


@pytest.mark.parametrize("aggregate", ["count", "sum"])
@pytest.mark.parametrize(
    ("row", "expected", "status"),
    [(0, 0.0, 0), (1, NAN, 1), (2, 0.0, 0), (3, NAN, 1)],
    ids=[
        "a client that had a signal of the kind before reads no events as a measured 0",
        "a client no source is known to cover reads no events as missing",
        "a client a fresh collector maps reads no events as a measured 0",
        "a signal after as_of does not tell that a source covered the client",
    ],
)
def test_counting_aggregate_over_no_events(
    score: Score, aggregate: str, row: int, expected: float, status: int
) -> None:
    signals = signal_set(4, covered={"metric": [2]}, metric=NO_EVENTS_IN_WINDOW)
    result = score(metric_card(aggregate=aggregate, window="30d"), signals, 4)
    assert same([float(result.raw[row, 0])], [expected])
    assert int(result.status[row, 0]) == status


def test_uncovered_no_events_says_no_source_covers_the_client(score: Score) -> None:
    signals = signal_set(1, metric=[])
    result = score(metric_card(aggregate="count", window="30d"), signals, 1)
    assert result.notes[(0, 0)] == (
        "no metric signals in the 30d window, and no source known to cover this client"
    )


def test_percentiles_match_numpy_for_balanced_skewed_and_shuffled_groups() -> None:
    rng = np.random.default_rng(7)
    shapes = {
        "balanced and grouped": np.repeat(np.arange(50), 6),
        "one client holds most events": np.r_[np.zeros(500, int), np.arange(1, 50)],
        "balanced but shuffled": rng.permutation(np.repeat(np.arange(50), 6)),
        # rows of several widths (1, 2, 3, 4, 6, 8 … 48), each width sorted as one block
        "clients of many sizes": np.repeat(np.arange(50), rng.integers(0, 40, size=50)),
    }
    for name, groups in shapes.items():
        values = rng.normal(size=len(groups)).round(2)  # rounding makes ties
        count = np.bincount(groups, minlength=52)
        for q in (0.0, 10.0, 50.0, 90.0, 100.0):
            got = aggregates.percentiles(groups, values, count, q)
            want = [np.percentile(values[groups == g], q) if count[g] else NAN for g in range(52)]
            assert same(got, want), f"{name}, q={q}"


def test_latest_breaks_a_tie_in_time_by_the_later_row(score: Score) -> None:
    events = [ev(0, 1, 5), ev(0, 1, 7), ev(1, 1, 7), ev(1, 1, 5), ev(1, 3, 9)]
    raw = raw_of(score, metric_card(aggregate="latest"), signal_set(2, metric=events), 2)
    assert raw == [7, 5]


@pytest.mark.parametrize(
    ("events", "min_count", "note"),
    [
        ([ev(0, 1, 5)], 1, "1 signal, 2 needed"),
        ([ev(0, 1, 5), ev(0, 1, 6)], 1, "all signals at one instant; a trend needs two"),
        ([ev(0, 1, 5), ev(0, 2, 6)], 3, "2 signals, 3 needed"),
        ([], 1, "no signals in the 30d window"),
    ],
    ids=[
        "a trend over one signal is missing",
        "a trend over signals at one instant is missing",
        "a trend needs min_count signals",
        "a trend over nothing says the window is empty",
    ],
)
def test_trend_missing(score: Score, events: list[Ev], min_count: int, note: str) -> None:
    scorecard = metric_card(aggregate="trend", window="30d", min_count=min_count)
    result = score(scorecard, signal_set(1, metric=events), 1)
    assert np.isnan(result.raw[0, 0])
    assert result.notes[(0, 0)] == note


def test_min_count_makes_too_few_signals_missing_but_not_count_or_sum(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, 5), ev(0, 2, 7)])
    mean = score(metric_card(aggregate="mean", min_count=3), signals, 1)
    assert np.isnan(mean.raw[0, 0])
    assert mean.notes[(0, 0)] == "2 signals, 3 needed"
    assert raw_of(score, metric_card(aggregate="count", min_count=3), signals, 1) == [2]
    assert raw_of(score, metric_card(aggregate="sum", min_count=3), signals, 1) == [12]


def test_ratio_counts_numerator_matches_and_ignores_the_measure(score: Score) -> None:
    events = [ev(0, 1, NAN, team="a"), ev(0, 2, 1, team="b"), ev(0, 3, 2, team="a")]
    scorecard = metric_card(aggregate="ratio", numerator={"team": "a"})
    assert same(raw_of(score, scorecard, signal_set(1, metric=events), 1), [2 / 3])


def test_count_ignores_the_measure_but_mean_skips_events_without_one(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 1, NAN), ev(0, 2, 4), ev(0, 3, 8)])
    assert raw_of(score, metric_card(aggregate="count"), signals, 1) == [3]
    assert raw_of(score, metric_card(aggregate="mean"), signals, 1) == [6]


def test_nps_counts_promoters_minus_detractors_over_nps_surveys_only(score: Score) -> None:
    answers = [
        ev(0, 1, 10, scale="nps"),
        ev(0, 2, 9, scale="nps"),
        ev(0, 3, 7),  # no scale attribute: NPS
        ev(0, 4, 3, scale="nps"),
        ev(0, 5, 1, scale="csat"),  # not NPS: left out, though a 1 would be a detractor
    ]
    linear = {"linear": {"best": 100, "worst": -100}}
    scorecard = card({"nps": {"signal": "survey", "aggregate": "nps", "curve": linear}})
    assert raw_of(score, scorecard, signal_set(1, survey=answers), 1) == [25]  # (2 - 1) / 4


@pytest.mark.parametrize(
    ("days", "seen"),
    [(0, True), (1.5, True), (1.999, True), (2, False), (3, False), (-1, False)],
    ids=[
        "an event at as_of is inside the window",
        "an event within the window counts",
        "an event just inside the window's start counts",
        "an event exactly one window before as_of is outside",
        "an older event is outside",
        "an event after as_of is never seen",
    ],
)
def test_window_bounds(score: Score, days: float, seen: bool) -> None:
    signals = signal_set(1, covered={"metric": [0]}, metric=[ev(0, days, 1)])
    assert raw_of(score, metric_card(aggregate="count", window="2d"), signals, 1) == [int(seen)]


def test_no_window_sees_all_history_but_not_the_future(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 400, 1), ev(0, 0.5, 2), ev(0, -0.5, 4)])
    assert raw_of(score, metric_card(aggregate="sum"), signals, 1) == [3]


def test_an_event_without_a_time_is_never_seen(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, NAN, 1), ev(0, 2, 2)])
    assert raw_of(score, metric_card(aggregate="sum"), signals, 1) == [2]
    assert raw_of(score, metric_card(aggregate="count", window="3d"), signals, 1) == [1]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"team": "a"}, 1 + 4),
        ({"team": ["a", "b"]}, 1 + 2 + 4),
        ({"team": "c"}, 0),
        ({"tier": True}, 8),  # YAML true compares as the text "true"
        ({"tier": 3}, 16),
        ({"tier": 2.5}, 32),
        ({"team": "a", "tier": True}, 0),
        ({"colour": "red"}, 0),  # an attribute no event has matches nothing
    ],
    ids=[
        "an attribute equals a text",
        "an attribute is one of a list",
        "an attribute value nobody has matches nothing",
        "YAML true is the text true",
        "a YAML integer is its digits",
        "a YAML float is its decimal text",
        "every where entry must hold",
        "an absent attribute never matches",
    ],
)
def test_where_on_attributes(score: Score, where: dict[str, Any], expected: float) -> None:
    events = [
        ev(0, 1, 1, team="a"),
        ev(0, 1, 2, team="b"),
        ev(0, 1, 4, team="a"),
        ev(0, 1, 8, tier="true"),
        ev(0, 1, 16, tier="3"),
        ev(0, 1, 32, tier="2.5"),
    ]
    scorecard = metric_card(aggregate="sum", where=where)
    assert raw_of(score, scorecard, signal_set(1, metric=events), 1) == [expected]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(True, 1), (False, 2), ([True, False], 3), ("true", 1), ("maybe", 0)],
    ids=[
        "open true keeps open incidents",
        "open false keeps resolved ones",
        "a list of both keeps all",
        "the text true means true",
        "any other text matches nothing",
    ],
)
def test_where_on_flags(score: Score, wanted: Any, expected: int) -> None:
    incidents = [ev(0, 3, end=None), ev(0, 3, end=2), ev(0, 5, end=1)]
    scorecard = card({"c": {"signal": "incident", "aggregate": "count", "where": {"open": wanted}}})
    assert raw_of(score, scorecard, signal_set(1, incident=incidents), 1) == [expected]


def test_attr_measure_maps_an_attribute_and_drops_unmapped_events(score: Score) -> None:
    incidents = [
        ev(0, 1, severity="sev1"),
        ev(0, 2, severity="sev3"),
        ev(0, 3, severity="sev9"),  # unmapped: no number, left out of the mean
        ev(0, 4),  # no severity at all: left out too
    ]
    measure = {"from": "severity", "map": {"sev1": 10, "sev3": 2}}
    scorecard = card({"c": {"signal": "incident", "aggregate": "mean", "measure": measure}})
    assert raw_of(score, scorecard, signal_set(1, incident=incidents), 1) == [6]


def test_a_count_after_a_sum_of_the_kind_tells_unknown_clients_from_measured_zeros(
    score: Score,
) -> None:
    # Client 0: one event, 40 days old (outside the sum's window). Client 1: 200 recent events
    # (enough rows that the scorer looks the few others up by binary search). Client 2: nothing.
    # Client 3: nothing, but a fresh collector maps it. No event is tier gold.
    events = [ev(0, 40, 1, tier="silver")] + [
        ev(1, 1 + i / 100, 2, tier="silver") for i in range(200)
    ]
    scorecard = card(
        {
            "recent": {"signal": "metric", "aggregate": "sum", "window": "30d"},
            "gold": {"signal": "metric", "aggregate": "count", "where": {"tier": "gold"}},
        },
        signals=METRIC,
    )
    result = score(scorecard, signal_set(4, covered={"metric": [3]}, metric=events), 4)
    assert same(result.raw[:, 0], [0, 400, NAN, 0])
    assert same(result.raw[:, 1], [0, 0, NAN, 0])


@settings(max_examples=200, deadline=None, database=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 6), st.floats(-10, 10, allow_nan=False)),
        max_size=40,
    )
)
def test_latest_of_events_in_client_and_time_order_reads_each_run_s_end(
    events: list[tuple[int, int, float]],
) -> None:
    """The shortcut for events sorted by (client, ts) — each client's last event — picks what
    the two scatters pick, ties in time going to the later row."""
    events.sort(key=lambda e: (e[0], e[1]))  # stable: tied rows keep their order
    groups = np.array([e[0] for e in events], dtype=np.intp)
    ts = np.array([float(e[1]) for e in events])
    values = np.array([e[2] for e in events])
    count = np.bincount(groups, minlength=7)
    expected = aggregates.latest(groups, ts, values, count)
    shortcut = aggregates.latest(groups, ts, values, count, ordered=True)
    assert np.array_equal(shortcut, expected, equal_nan=True)
