"""Derived per-event fields, computed as of the evaluation instant, through both engines.

One event per client and ``aggregate: max`` make each client's raw value that event's field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from scorer_builders import AS_OF, NAN, Ev, Score, card, ev, raw_of, same, signal_set

from rapport.engine.fields import rows_of_clients
from rapport.engine.frame import is_grouped


def field_card(signal: str, measure: Any, **spec: Any) -> Any:
    return card({"c": {"signal": signal, "aggregate": "max", "measure": measure, **spec}})


MILESTONES = [
    ev(0, 10, end=7),  # due 10 days ago, delivered 3 days late
    ev(1, 10, end=12),  # delivered two days early
    ev(2, 4),  # open, due 4 days ago
    ev(3, 10, end=10),  # delivered exactly at the due time
    ev(4, -2),  # due in two days: not visible yet
]


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("late_days", [3, 0, 4, 0, NAN]),
        ("missed", [1, 0, 1, 0, NAN]),
        ("delivered", [1, 1, 0, 1, NAN]),
        ("open", [0, 0, 1, 0, NAN]),
        ("age_days", [10, 10, 4, 10, NAN]),
    ],
    ids=[
        "late_days counts to delivery, or to as_of while open, never below 0",
        "missed means any lateness",
        "delivered means delivered by as_of",
        "open means not delivered",
        "age_days counts from the due time",
    ],
)
def test_milestone_fields(score: Score, measure: str, expected: list[float]) -> None:
    signals = signal_set(5, milestone=MILESTONES)
    assert same(raw_of(score, field_card("milestone", measure), signals, 5), expected)


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("late_days", [5, 0]),
        ("missed", [1, 0]),
        ("open", [1, 1]),
    ],
    ids=[
        "a delivery after a past as_of has not happened: late until then",
        "so the milestone was missed as of then",
        "and open as of then",
    ],
)
def test_milestone_replayed_as_of_before_delivery(
    score: Score, measure: str, expected: list[float]
) -> None:
    # Replayed as of 5 days before AS_OF: client 0's milestone (due 10 days before, delivered 2
    # days before) was open and 5 days late then; client 1's was due at that very instant.
    events = [ev(0, 10, end=2), ev(1, 5, end=1)]
    past = AS_OF - timedelta(days=5)
    signals = signal_set(2, milestone=events)
    assert same(raw_of(score, field_card("milestone", measure), signals, 2, as_of=past), expected)


INCIDENTS = [
    ev(0, 2, end=1),  # resolved after a day
    ev(1, 1),  # open for a day so far
    ev(2, 3, end=-1),  # resolved after as_of: still open as of as_of
]


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("duration_hours", [24, 24, 72]),
        ("open", [0, 1, 1]),
        ("resolved", [1, 0, 0]),
    ],
    ids=[
        "duration runs to resolution, or to as_of while open",
        "open means not resolved by as_of",
        "resolved means resolved by as_of",
    ],
)
def test_incident_fields(score: Score, measure: str, expected: list[float]) -> None:
    raw = raw_of(score, field_card("incident", measure), signal_set(3, incident=INCIDENTS), 3)
    assert same(raw, expected)


SURVEYS = [
    ev(0, 1, 8, scale="nps"),
    ev(1, 1, 4, scale="csat"),
    ev(2, 1, 4, scale="1..7"),
    ev(3, 1, 5),  # no scale: NPS
    ev(4, 1, 3, scale="sometimes"),  # unreadable scale
    ev(5, 1, 9, scale="nps"),
    ev(6, 1, 6, scale="nps"),
    ev(7, 1, 5, scale="csat"),
]


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("normalized", [80, 75, 50, 50, NAN, 90, 60, 100]),
        ("value", [8, 4, 4, 5, 3, 9, 6, 5]),
        ("promoter", [0, 0, 0, 0, 0, 1, 0, 0]),
        ("passive", [1, 0, 0, 0, 0, 0, 0, 0]),
        ("detractor", [0, 0, 0, 1, 0, 0, 1, 0]),
    ],
    ids=[
        "normalized puts every scale on 0..100 and an unreadable one nowhere",
        "value is the answer as given",
        "a promoter answers 9 or 10 on NPS",
        "a passive answers 7 or 8 on NPS",
        "a detractor answers 6 or less on NPS, whatever other scales say",
    ],
)
def test_survey_fields(score: Score, measure: str, expected: list[float]) -> None:
    raw = raw_of(score, field_card("survey", measure), signal_set(8, survey=SURVEYS), 8)
    assert same(raw, expected)


def test_every_kind_has_a_value_and_an_age(score: Score) -> None:
    events: list[Ev] = [ev(0, 1.5, 42)]
    signals = signal_set(1, response_time=events)
    assert raw_of(score, field_card("response_time", "value"), signals, 1) == [42]
    assert raw_of(score, field_card("response_time", "age_days"), signals, 1) == [1.5]


@pytest.mark.parametrize(
    "client",
    [[0, 0, 1, 3, 3, 3, 4], [3, 0, 4, 3, 1, 0, 3], []],
    ids=["rows grouped by client", "rows in any order", "no rows at all"],
)
def test_rows_of_clients(client: list[int]) -> None:
    codes = np.array(client, dtype=np.int32)
    chosen = np.array([0, 3], dtype=np.intp)
    expected = [row for row, c in enumerate(client) if c in (0, 3)]
    assert rows_of_clients(codes, chosen, grouped=False).tolist() == expected
    if is_grouped(codes):
        assert rows_of_clients(codes, chosen, grouped=True).tolist() == expected
