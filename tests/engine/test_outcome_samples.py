"""engine.outcome_samples: which cases a validation compares, and when each score is read."""

from __future__ import annotations

import numpy as np
from scorer_builders import AT, DAY, ago, ev, signal_set

from rapport.engine.frame import SignalSet
from rapport.engine.outcome_samples import decision_sample, event_sample, outcome_types

H = 30 * DAY


def book() -> SignalSet:
    # Client 0 renewed 100 days ago and churned 10 days ago; client 1 renewed 50 days ago and
    # escalated 45 and 200 days ago; client 2 has only an old reply. Times: days before AT.
    return signal_set(
        3,
        outcome=[
            ev(0, 100, type="renewed"),
            ev(0, 10, type="churned"),
            ev(1, 50, type="renewed"),
            ev(1, 45, type="escalated"),
            ev(1, 200, type="escalated"),
        ],
        response_time=[ev(0, 150, 2.0), ev(1, 150, 3.0), ev(2, 80, 1.0)],
    )


def test_outcome_types_are_counted() -> None:
    assert outcome_types(book()) == {"renewed": 2, "churned": 1, "escalated": 2}


def test_each_renewal_decision_is_one_case_read_h_before_it() -> None:
    sample = decision_sample(book(), H, since=ago(120), until=AT)
    assert sample.client.tolist() == [0, 1, 0]  # oldest decision first
    assert sample.positive.tolist() == [False, False, True]
    assert sample.at.tolist() == [np.floor(ago(days) - H) for days in (100, 50, 10)]
    assert np.array_equal(sample.known_at, sample.outcome_at)


def test_decisions_outside_the_period_are_left_out() -> None:
    sample = decision_sample(book(), H, since=ago(60), until=ago(20))
    assert sample.client.tolist() == [1]


def test_event_cases_are_clients_in_the_book_on_a_weekly_grid() -> None:
    step = 7 * DAY
    sample = event_sample(
        book(),
        "escalated",
        horizon=H,
        step=step,
        since=ago(147),
        until=AT,
        n_clients=3,
    )
    # Client 2 joins at its first signal (80 days ago); client 0 leaves when it churns.
    for client, at in zip(sample.client.tolist(), sample.at.tolist(), strict=True):
        assert client != 2 or at >= ago(80)
        assert client != 0 or at < ago(10)
    # Positive exactly where the escalation 45 days ago falls within (at, at + 30d].
    for client, at, hit in zip(sample.client, sample.at, sample.positive, strict=True):
        expected = client == 1 and at < ago(45) <= at + H
        assert hit == expected, (client, (AT - at) / DAY)
    assert sample.positive.sum() > 0
    assert np.array_equal(sample.known_at, sample.at + H)
    assert (sample.at + H <= AT).all()
