"""engine.backtest: scores at many instants equal the scorer's own evaluation at each instant,
and use only what was known then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scorer_builders import AT, DAY, card, clients, ev, signal_set
from test_reference_equivalence import STEP, populations, scorecards

from rapport.engine.backtest import ClientIndex, score_queries
from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.loader import load_scorecard
from rapport.engine.model import Scorecard
from rapport.engine.scoring import evaluate
from rapport.signals.demo import demo_clients, demo_signals
from rapport.signals.frames import build_signal_set

RULES = Path(__file__).resolve().parents[2] / "rules"
END = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


@cache
def demo_book() -> tuple[ClientSet, SignalSet]:
    listed = demo_clients()
    book = ClientSet.of([c.id for c in listed], [c.segment for c in listed])
    return book, build_signal_set(book, demo_signals(listed, end=END))


def queries(
    rng: np.random.Generator, n_clients: int, crowded: int
) -> tuple[list[int], list[float]]:
    """A few instants asked about by one or two clients (the gathered path) and ``crowded``
    asked about by most of the book (the whole-book path)."""
    rows: list[int] = []
    instants: list[float] = []
    for days in rng.choice(170, size=12, replace=False):
        at = float(np.floor((END - timedelta(days=int(days), hours=5)).timestamp()))
        picked = rng.choice(n_clients, size=int(rng.integers(1, 3)), replace=False)
        rows += picked.tolist()
        instants += [at] * len(picked)
    for days in range(crowded):
        at = float(np.floor((END - timedelta(days=3 + 20 * days)).timestamp()))
        rows += [*range(0, n_clients, 2), 1, 1]  # a client asked twice at one instant
        instants += [at] * (len(range(0, n_clients, 2)) + 2)
    return rows, instants


def test_replay_equals_evaluate_at_each_instant_on_the_demo() -> None:
    scorecard = load_scorecard(RULES / "scorecard.yaml")
    book, signals = demo_book()
    rows, instants = queries(np.random.default_rng(3), len(book), crowded=3)
    replayed = score_queries(scorecard, book, signals, rows, instants)
    for i, (row, at) in enumerate(zip(rows, instants, strict=True)):
        expected = evaluate(scorecard, book, signals, datetime.fromtimestamp(at, UTC), "x")
        # Equal to the last bits but a trend's least-squares sums, which a time shift may round
        # differently: 1e-9 points.
        assert close(replayed.score[i], expected.score[row]), i
        assert replayed.grade[i] == expected.grade[row]
        assert replayed.insufficient[i] == expected.insufficient[row]
        assert replayed.coverage[i] == expected.coverage[row]
        assert close(replayed.points[i], expected.points[row]), i
        assert close(replayed.weight[i], expected.weight[row]), i


def close(a: object, b: object) -> bool:
    return bool(np.allclose(a, b, rtol=0, atol=1e-9, equal_nan=True))  # type: ignore[call-overload]


def test_each_query_gets_its_clients_visible_events_moved_to_the_reference() -> None:
    _, signals = demo_book()
    index = ClientIndex(signals, 60)
    at = np.floor(np.array([END.timestamp() - 50 * DAY, END.timestamp() - 10 * DAY]))
    reference = float(at.max())
    shifted = index.shifted(np.array([7, 7]), at, reference)
    for kind, frame in signals.kinds.items():
        got = shifted.frame(kind)
        for query in (0, 1):
            seen = frame.ts[(frame.client == 7) & (frame.known_from <= at[query])]
            moved = got.ts[got.client == query] - (reference - at[query])
            assert np.array_equal(np.sort(moved), np.sort(seen)), (kind, query)


MISSED = {"signal": "milestone", "where": {"missed": True}, "aggregate": "count"}


@pytest.mark.parametrize(
    ("recorded_days", "expected"),
    [
        pytest.param(35, 1.0, id="a milestone recorded before t - H counts"),
        pytest.param(25, float("nan"), id="a milestone recorded after t - H changes nothing"),
    ],
)
def test_the_score_used_is_what_was_known_at_t_minus_h(
    recorded_days: float, expected: float
) -> None:
    # Due 40 days before AT and never delivered; the score is read 30 days before AT.
    scorecard = card({"missed": MISSED})
    signals = signal_set(1, milestone=[ev(0, 40, recorded=recorded_days)])
    replayed = score_queries(scorecard, clients(1), signals, [0], [AT - 30 * DAY])
    assert np.array_equal(replayed.points[0], [expected], equal_nan=True)
    if np.isnan(expected):
        nothing = score_queries(
            scorecard, clients(1), signal_set(1, milestone=[]), [0], [AT - 30 * DAY]
        )
        assert np.array_equal(replayed.score, nothing.score, equal_nan=True)


def test_instants_must_be_whole_seconds_and_match_the_rows() -> None:
    scorecard = card({"missed": MISSED})
    signals = signal_set(1, milestone=[])
    with pytest.raises(ValueError, match="whole epoch seconds"):
        score_queries(scorecard, clients(1), signals, [0], [AT + 0.5])
    with pytest.raises(ValueError, match="equal length"):
        score_queries(scorecard, clients(1), signals, [0, 0], [AT])


@settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scorecard=scorecards(), population=populations(), steps=st.lists(st.integers(-8, 8)))
def test_replay_equals_evaluate_on_random_scorecards_and_signals(
    scorecard: Scorecard, population: tuple[ClientSet, SignalSet], steps: list[int]
) -> None:
    """The scorer's own property-test inputs (every aggregate, window, missing policy, limit,
    segment, record time and stale source), replayed at instants on their 6-hour grid."""
    book, signals = population
    if not len(book):
        return
    rows = [k % len(book) for k in range(len(steps))]
    instants = [AT + k * STEP for k in steps]
    replayed = score_queries(scorecard, book, signals, rows, instants)
    for i, (row, at) in enumerate(zip(rows, instants, strict=True)):
        expected = evaluate(scorecard, book, signals, datetime.fromtimestamp(at, UTC), "x")
        assert close(replayed.score[i], expected.score[row]), i
        assert close(replayed.provisional[i], expected.provisional[row]), i
        assert replayed.grade[i] == expected.grade[row]
        assert replayed.insufficient[i] == expected.insufficient[row]
        assert close(replayed.coverage[i], expected.coverage[row])
        assert close(replayed.points[i], expected.points[row]), i
