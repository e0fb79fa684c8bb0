"""engine.backtest: scores at many instants equal the scorer's own evaluation at each instant,
and use only what was known then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scorer_builders import AT, DAY, card, clients, ev, signal_set

from rapport.engine.backtest import ClientIndex, replay
from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.loader import load_scorecard
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
    replayed = replay(scorecard, book, signals, rows, instants)
    for i, (row, at) in enumerate(zip(rows, instants, strict=True)):
        expected = evaluate(scorecard, book, signals, datetime.fromtimestamp(at, UTC), "x")
        assert np.array_equal(replayed.score[i], expected.score[row], equal_nan=True), i
        assert replayed.grade[i] == expected.grade[row]
        assert replayed.insufficient[i] == expected.insufficient[row]
        assert np.array_equal(replayed.points[i], expected.points[row], equal_nan=True)
        assert np.array_equal(replayed.weight[i], expected.weight[row])


def test_a_client_index_gathers_exactly_each_clients_rows() -> None:
    _, signals = demo_book()
    index = ClientIndex(signals, 60)
    subset = index.subset(np.array([7, 2]))
    for kind, frame in signals.kinds.items():
        got = subset.frame(kind)
        for position, row in enumerate((7, 2)):
            assert np.array_equal(
                np.sort(got.ts[got.client == position]), np.sort(frame.ts[frame.client == row])
            )


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
    replayed = replay(scorecard, clients(1), signals, [0], [AT - 30 * DAY])
    assert np.array_equal(replayed.points[0], [expected], equal_nan=True)
    if np.isnan(expected):
        nothing = replay(scorecard, clients(1), signal_set(1, milestone=[]), [0], [AT - 30 * DAY])
        assert np.array_equal(replayed.score, nothing.score, equal_nan=True)


def test_instants_must_be_whole_seconds_and_match_the_rows() -> None:
    scorecard = card({"missed": MISSED})
    signals = signal_set(1, milestone=[])
    with pytest.raises(ValueError, match="whole epoch seconds"):
        replay(scorecard, clients(1), signals, [0], [AT + 0.5])
    with pytest.raises(ValueError, match="equal length"):
        replay(scorecard, clients(1), signals, [0, 0], [AT])
