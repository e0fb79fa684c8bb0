"""Replaying a window (``engine.replay``) equals scoring each instant on its own; the rules diff
(``engine.rules_diff``) of two replays; ``--fail-on`` conditions (``engine.fail_on``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pytest
from alert_builders import rules_of
from hypothesis import given, settings
from hypothesis import strategies as st
from scorer_builders import AS_OF, Ev, card, clients, ev, signal_set

from rapport.engine.alerts import alert_inputs
from rapport.engine.alerts import replay as replay_alerts
from rapport.engine.fail_on import BadConditionError, parse_condition
from rapport.engine.frame import SignalSet
from rapport.engine.replay import (
    INSUFFICIENT,
    UNGRADED,
    Replay,
    Side,
    replay,
    replay_together,
    window,
)
from rapport.engine.rules_diff import GradeTransition, RulesDiff, diff
from rapport.engine.scoring import evaluate

DAY = timedelta(days=1)
INSTANTS = window(AS_OF, 20, DAY)
DELIVERY = {
    "signal": "milestone",
    "aggregate": "ratio",
    "numerator": {"missed": True},
    "window": "30d",
    "curve": {"linear": {"best": 0, "worst": 1}},
}
REPLIES = {"signal": "response_time", "aggregate": "mean", "window": "10d", "missing": "skip"}
BASE = card({"delivery": DELIVERY, "replies": REPLIES})
HEAD = card({"delivery": {**DELIVERY, "weight": 3}, "replies": REPLIES})


def world(n: int = 12, seed: int = 7, late: Sequence[Ev] = ()) -> SignalSet:
    """Replies and milestones spread over the window, a third of them recorded days late."""
    rng = np.random.default_rng(seed)
    replies = [
        ev(c, float(d), float(v), recorded=float(d) - 3 if late else None)
        for c in range(n)
        for d, v, late in zip(
            rng.uniform(0, 40, 6), rng.uniform(0, 100, 6), rng.random(6) < 0.3, strict=True
        )
    ]
    milestones = [
        ev(c, float(d), end=float(d) - float(e) if e < 4 else None)
        for c in range(n)
        for d, e in zip(rng.uniform(0, 40, 3), rng.uniform(-3, 5, 3), strict=True)
    ]
    return signal_set(n, response_time=replies, milestone=[*milestones, *late])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 15))
def test_a_replay_equals_scoring_each_instant_alone(seed: int, n: int) -> None:
    signals, who = world(n, seed), clients(n)
    replayed = replay(BASE, who, signals, INSTANTS, "v1")
    assert replayed.score.shape == (len(INSTANTS), n)
    for t, instant in enumerate(INSTANTS):
        alone = evaluate(BASE, who, signals, instant, "v1")
        np.testing.assert_array_equal(replayed.score[t], alone.score)
        np.testing.assert_array_equal(replayed.coverage[t], alone.coverage)
        expected = np.where(alone.insufficient, INSUFFICIENT, alone.grade)
        expected = np.where((alone.grade < 0) & ~alone.insufficient, UNGRADED, expected)
        np.testing.assert_array_equal(replayed.grade[t], expected)


def test_alert_replay_equals_stepping_with_the_score_a_drop_window_before() -> None:
    rules = rules_of(
        {
            "dropping": {"when": {"drop": {"within": "3d", "at_least": 5}}, "severity": "warning"},
            "low": {"when": {"score": {"below": 50}}, "severity": "critical"},
        },
        defaults={"repeat_every": "2d"},
    )
    signals, who = world(), clients(12)
    replayed = replay(BASE, who, signals, INSTANTS, "v1", alerts=rules)

    def step(instant):  # type: ignore[no-untyped-def]
        before = evaluate(BASE, who, signals, instant - timedelta(days=3), "v1").score
        now = evaluate(BASE, who, signals, instant, "v1")
        return alert_inputs(now, BASE.min_coverage, {3 * 86400.0: before})

    _, every = replay_alerts(rules, [step(t) for t in INSTANTS])
    # Reminders are left out of a replay: they start and end no episode.
    assert list(replayed.alerts) == [n for n in every if n.kind != "repeat"]
    assert {n.kind for n in every} == {"firing", "repeat", "resolved"}
    assert any(n.rule == "dropping" for n in every), "the world must exercise the drop rule"


def test_a_milestone_recorded_late_changes_nothing_before_it_was_known() -> None:
    who = clients(12)
    # Entered 5 days before AS_OF, though it was due (and missed) 12 days before.
    signals, merged = world(), world(late=[ev(0, 12, recorded=5)])
    before = INSTANTS[: INSTANTS.index(AS_OF - 5 * DAY)]

    def compared(signals: SignalSet, instants: tuple[datetime, ...]) -> RulesDiff:
        return diff(
            replay(BASE, who, signals, instants, "b"), replay(HEAD, who, signals, instants, "h")
        )

    assert compared(merged, before) == compared(signals, before)
    assert compared(merged, INSTANTS) != compared(signals, INSTANTS), "once known, it counts"


def test_the_same_rules_give_an_empty_diff() -> None:
    signals, who = world(), clients(12)
    result = diff(
        replay(BASE, who, signals, INSTANTS, "a"), replay(BASE, who, signals, INSTANTS, "b")
    )
    assert result.empty
    assert result.summary() == "No difference: all 12 clients score the same over 20 days."
    assert set(result.counts().values()) == {0}


def test_a_heavier_weight_shows_in_the_diff_and_its_counts() -> None:
    signals, who = world(), clients(12)
    result = diff(
        replay(BASE, who, signals, INSTANTS, "a"), replay(HEAD, who, signals, INSTANTS, "b")
    )
    assert not result.empty
    counts = result.counts()
    assert counts["clients-changed"] == len(result.clients) > 0
    assert counts["max-score-diff"] > 0
    assert all(
        c.largest is None or abs(c.largest) <= counts["max-score-diff"] for c in result.clients
    )


def test_window_ends_at_its_end_and_steps_back() -> None:
    assert window(AS_OF, 2, DAY) == (AS_OF - 2 * DAY, AS_OF - DAY, AS_OF)
    assert window(AS_OF, 1, timedelta(hours=10)) == (
        AS_OF - timedelta(hours=20), AS_OF - timedelta(hours=10), AS_OF,
    )  # fmt: skip
    assert window(AS_OF, 0, DAY) == (AS_OF,)


def test_instants_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        replay(BASE, clients(1), world(1), [AS_OF, AS_OF - DAY], "v")


@pytest.mark.parametrize(
    ("text", "counts", "holds"),
    [
        ("grade-changes>10", {"grade-changes": 11}, True),
        ("grade-changes>10", {"grade-changes": 10}, False),
        ("new-alerts >= 1", {"new-alerts": 1}, True),
        (" max-score-diff<2.5 ", {"max-score-diff": 2.4}, True),
        ("fewer-alerts==0", {"fewer-alerts": 1}, False),
        ("clients-changed!=0", {"clients-changed": 3}, True),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_condition_holds_by_its_metric_and_operator(
    text: str, counts: dict[str, float], holds: bool
) -> None:
    assert parse_condition(text).holds(counts) is holds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grade-changes", "expected METRIC OP NUMBER"),
        ("grade-changes>ten", "expected METRIC OP NUMBER"),
        ("grade-chnges>1", "unknown metric 'grade-chnges' (did you mean 'grade-changes'?"),
        ("alerts=>1", "expected METRIC OP NUMBER"),
    ],
    ids=["a metric alone is refused", "a word for a number is refused",
         "a misspelt metric gets a suggestion", "an unknown operator is refused"],
)  # fmt: skip
def test_a_bad_condition_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(BadConditionError, match=None) as raised:
        parse_condition(text)
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"--fail-on {text!r}: ")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_replaying_two_rulesets_together_equals_replaying_each_alone(seed: int) -> None:
    rules = rules_of({"low": {"when": {"score": {"below": 60}}, "severity": "warning"}})
    signals, who = world(12, seed), clients(12)
    capped = card(
        {"delivery": DELIVERY, "replies": REPLIES},
        caps=[{"id": "slow", "reason": "slow", "when": {"component": "replies", "above": 70},
               "max": 40}],
    )  # fmt: skip
    sides = [Side(BASE, who, "b", rules), Side(HEAD, who, "h", None), Side(capped, who, "c", rules)]
    together = replay_together(sides, signals, INSTANTS)
    for side, replayed in zip(sides, together, strict=True):
        alone = replay(
            side.scorecard, who, signals, INSTANTS, side.rules_version, alerts=side.alerts
        )
        for name in ("score", "grade", "coverage"):
            np.testing.assert_array_equal(getattr(replayed, name), getattr(alone, name))
        assert replayed.alerts == alone.alerts
        assert (replayed.instants, replayed.rules_version) == (alone.instants, alone.rules_version)


def test_transitions_that_move_in_time_appear_and_vanish() -> None:
    # c0 slips healthy → watch a day earlier under head; c1 slips and recovers alike under both.
    def replayed(c0: list[int], version: str) -> Replay:
        grade = np.array([[c0[t], [0, 1, 0][t]] for t in range(3)], dtype=np.int16)
        score = np.where(grade == 0, 80.0, 60.0)
        return Replay(
            INSTANTS[:3], clients(2), version, ("healthy", "watch"), score, grade,
            np.ones((3, 2)),
        )  # fmt: skip

    result = diff(replayed([0, 0, 1], "base"), replayed([0, 1, 1], "head"))
    (c0,) = result.clients
    assert c0.appeared == (GradeTransition("c0", INSTANTS[1], "healthy", "watch"),)
    assert c0.vanished == (GradeTransition("c0", INSTANTS[2], "healthy", "watch"),)
    assert (c0.largest, c0.largest_at) == (-20.0, INSTANTS[1])
    assert result.counts()["new-transitions"] == result.counts()["gone-transitions"] == 1
    assert result.summary().startswith("no client changes grade (0 scores move now)")
