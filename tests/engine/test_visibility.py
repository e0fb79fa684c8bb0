"""Replay as it was known: an evaluation as of T sees only events recorded at or before T.

Hand-computed, through both engines (the ``score`` fixture). Times are days before ``AS_OF``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from scorer_builders import AS_OF, NAN, Score, card, ev, same, signal_set

MISSED = {"signal": "milestone", "where": {"missed": True}, "aggregate": "count"}
SEEN = {"signal": "milestone", "aggregate": "count"}
LATE = {"signal": "milestone", "measure": "late_days", "aggregate": "max"}
OPEN = {"signal": "milestone", "where": {"open": True}, "aggregate": "count"}


def days_before(days: float) -> timedelta:
    return timedelta(days=days)


# Due 10 days before AS_OF, entered into the tracker 3 days after it was due (7 days before).
LATE_ENTRY = [ev(0, 10, recorded=7)]


@pytest.mark.parametrize(
    ("as_of_days", "seen", "missed", "late"),
    [
        # Not visible, and no source is known to reach the client yet (no covering collector, no
        # earlier signal): the counts are missing data, not a measured 0 (coverage, issue 8.1).
        pytest.param(8, NAN, NAN, NAN, id="between due and recorded it is not even visible"),
        pytest.param(7, 1, 1, 3, id="at the instant it is recorded it is missed by 3 days"),
        pytest.param(0, 1, 1, 10, id="after it is recorded it is missed, late until as_of"),
    ],
)
def test_a_milestone_recorded_after_its_due_date_is_missed_only_once_known(
    score: Score, as_of_days: float, seen: float, missed: float, late: float
) -> None:
    scorecard = card({"seen": SEEN, "missed": MISSED, "late": LATE})
    result = score(
        scorecard, signal_set(1, milestone=LATE_ENTRY), 1, AS_OF - days_before(as_of_days)
    )
    assert same(result.raw[0], [seen, missed, late])


@pytest.mark.parametrize(
    ("as_of_days", "open_", "late"),
    [
        pytest.param(5, 1, 5, id="delivered after T it is still open at T and late until T"),
        pytest.param(0, 0, 8, id="after the delivery it is delivered 8 days late"),
    ],
)
def test_a_milestone_delivered_after_t_is_open_at_t(
    score: Score, as_of_days: float, open_: float, late: float
) -> None:
    # Due 10 days before AS_OF, known all along, delivered 2 days before AS_OF.
    signals = signal_set(1, milestone=[ev(0, 10, end=2, recorded=30)])
    result = score(card({"open": OPEN, "late": LATE}), signals, 1, AS_OF - days_before(as_of_days))
    assert same(result.raw[0], [open_, late])


def test_an_event_without_a_record_time_is_known_from_its_ts(score: Score) -> None:
    signals = signal_set(1, metric=[ev(0, 3, 10), ev(0, 2, 30, recorded=1), ev(0, 1, 50)])
    total = {"signal": "metric", "aggregate": "sum"}
    assert same(score(card({"t": total}), signals, 1, AS_OF - days_before(1.5)).raw[0], [10])
    assert same(score(card({"t": total}), signals, 1).raw[0], [90])


def test_a_carry_measures_at_the_last_signal_with_what_was_known_at_t(score: Score) -> None:
    # The last metric is 10 days old but was recorded 4 days ago; a 7-day window misses it.
    carry = {"signal": "metric", "aggregate": "mean", "window": "7d", "missing": {"carry": "14d"}}
    signals = signal_set(1, metric=[ev(0, 12, 20), ev(0, 10, 40, recorded=4)])
    now = score(card({"m": carry}), signals, 1)
    assert same(now.raw[0], [30])  # measured as of 10 days ago: both events, known at AS_OF
    before = score(card({"m": carry}), signals, 1, AS_OF - days_before(5))
    assert same(before.raw[0], [20])  # 5 days ago only the first was known: carried from it
