"""Alert evaluation by hand-computed cases: each condition, for / keep_firing_for, hysteresis,
repeats, resolves, silences (and their expiry), and fire → resolve → fire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from alert_builders import DAY, T0, at, inputs, rules_of

from rapport.engine.alert_rules import AlertRules
from rapport.engine.alerts import (
    NO_STATES,
    AlertInputs,
    AlertStates,
    AlertTransition,
    Silence,
    evaluate_alerts,
    replay,
)


def run(
    rules: AlertRules, steps: Sequence[AlertInputs], silences: Sequence[Silence] = ()
) -> list[tuple[float, str, str]]:
    """(hours after T0, client, kind) of every transition over ``steps``."""
    _, found = replay(rules, steps, silences)
    return [((t.at - T0).total_seconds() / 3600, t.client, t.kind) for t in found]


def scores(rules: AlertRules, series: Sequence[float | None], every: float = 1.0) -> list[Any]:
    steps = [inputs(at(i * every), [v]) for i, v in enumerate(series)]
    return [(h, kind) for h, _, kind in run(rules, steps)]


LOW = {"low": {"when": {"score": {"below": 50}}, "severity": "critical"}}


@pytest.mark.parametrize(
    ("condition", "step", "fires"),
    [
        ({"score": {"below": 50}}, {"score": [49.9, 50]}, ["c0"]),
        ({"drop": {"within": "7d", "at_least": 15}},
         {"score": [60, 60, None], "before": {7 * DAY: [75, 74, 90]}}, ["c0"]),
        ({"grade": {"at_or_worse": "watch"}}, {"score": [1, 1, 1], "grade": [0, 1, 2]},
         ["c1", "c2"]),
        ({"component": {"id": "delivery", "below": 40}},
         {"score": [1, 1], "points": {"delivery": [39, 40]}}, ["c0"]),
        ({"coverage": "lost"}, {"score": [None, 80], "coverage": [0.2, 0.5]}, ["c0"]),
        ({"stale": {"kind": "incident", "longer_than": "2d"}},
         {"score": [1, 1, 1], "age": {"incident": [2 * DAY + 1, 2 * DAY, None]}}, ["c0"]),
    ],
    ids=[
        "score below 50 fires at 49.9, not at 50",
        "a drop of 15 in 7 days fires, 14 does not, and no score now is unknown",
        "grade watch or worse fires for watch and at_risk",
        "a component below 40 points fires at 39",
        "coverage below min_coverage fires for the insufficient client",
        "a source stale longer than 2 days fires, exactly 2 days does not",
    ],
)  # fmt: skip
def test_each_condition_fires_where_it_holds(
    condition: dict[str, Any], step: dict[str, Any], fires: list[str]
) -> None:
    rules = rules_of({"r": {"when": condition}})
    _, found = evaluate_alerts(rules, inputs(T0, **step), NO_STATES)
    assert [(t.client, t.kind) for t in found] == [(c, "firing") for c in fires]


def test_score_conditions_never_fire_for_an_insufficient_data_client() -> None:
    rules = rules_of({**LOW, "grade": {"when": {"grade": {"at_or_worse": "at_risk"}}}})
    step = inputs(T0, [None], coverage=[0.1], grade=[None], points={"x": [None]})
    assert evaluate_alerts(rules, step, NO_STATES)[1] == []


def test_for_waits_until_the_condition_held_that_long_and_a_gap_restarts_it() -> None:
    rules = rules_of({"low": {"when": {"score": {"below": 50}}, "for": "2h"}})
    assert scores(rules, [40, 40, 60, 40, 40, 40]) == [(5.0, "firing")]


def test_hysteresis_a_score_hovering_at_the_boundary_fires_once() -> None:
    rules = rules_of(
        {"low": {"when": {"score": {"below": 50}}, "clear": {"score": {"at_least": 55}}}}
    )
    series = [60, 49, 51, 49.5, 52, 48, 54.9, 55, 49]
    assert scores(rules, series) == [(1.0, "firing"), (7.0, "resolved"), (8.0, "firing")]


def test_without_clear_a_flapping_score_resolves_each_time() -> None:
    assert scores(rules_of(LOW), [49, 51, 49]) == [(0, "firing"), (1, "resolved"), (2, "firing")]


def test_keep_firing_for_holds_the_alert_through_a_short_recovery() -> None:
    rules = rules_of({"low": {"when": {"score": {"below": 50}}, "keep_firing_for": "2h"}})
    assert scores(rules, [40, 60, 40, 60, 60, 60]) == [(0, "firing"), (5, "resolved")]


def test_repeats_come_every_interval_while_firing() -> None:
    rules = rules_of(LOW, defaults={"repeat_every": "2h"})
    _, found = replay(rules, [inputs(at(h), [40]) for h in range(5)])
    assert [(t.kind, t.dedupe_key.rsplit("|", 1)[1]) for t in found] == [
        ("firing", "0"), ("repeat", "1"), ("repeat", "2"),
    ]  # fmt: skip
    assert {t.episode for t in found} == {"20270104T120000Z"}


def test_fire_resolve_fire_in_quick_succession_gives_each_transition_and_two_episodes() -> None:
    _, found = replay(rules_of(LOW), [inputs(at(h / 60), [v]) for h, v in enumerate([40, 60, 40])])
    assert [t.kind for t in found] == ["firing", "resolved", "firing"]
    assert found[0].episode != found[2].episode
    assert len({t.dedupe_key for t in found}) == 3


def test_a_transition_carries_its_rule_severity_labels_value_and_threshold() -> None:
    rules = rules_of({"low": {**LOW["low"], "labels": {"team": "delivery"}}})
    _, (notice,) = evaluate_alerts(rules, inputs(T0, [42.5], clients=["acme"]), NO_STATES)
    assert notice == AlertTransition(
        rule="low", client="acme", episode="20270104T120000Z", kind="firing", at=T0,
        severity="critical", labels={"team": "delivery", "severity": "critical"}, value=42.5,
        threshold=50.0, silenced=False, dedupe_key="low|acme|20270104T120000Z|firing|0",
    )  # fmt: skip


def silence(start: float, end: float, **selectors: Any) -> Silence:
    return Silence(
        id="s1", client=selectors.get("client"), rule=selectors.get("rule"),
        labels=selectors.get("labels", {}), reason="known", author="ops",
        created=at(start), expires=at(end),
    )  # fmt: skip


def silenced_run(series: list[float], *silences: Silence, **rules: Any) -> list[Any]:
    steps = [inputs(at(h), [v]) for h, v in enumerate(series)]
    _, found = replay(rules_of(LOW, **rules), steps, silences)
    return [((t.at - T0).total_seconds() / 3600, t.kind, t.silenced) for t in found]


@pytest.mark.parametrize(
    "selector",
    [{"client": "c0"}, {"rule": "low"}, {"labels": {"severity": "critical"}}],
    ids=["by client", "by rule", "by labels"],
)
def test_a_silence_mutes_the_firing_and_its_expiry_notifies_at_once(
    selector: dict[str, Any],
) -> None:
    found = silenced_run(
        [40, 40, 40, 40], silence(0, 2, **selector), defaults={"repeat_every": "1d"}
    )
    assert found == [(0, "firing", True), (2, "repeat", False)]


def test_a_silence_of_another_client_or_rule_mutes_nothing() -> None:
    found = silenced_run([40], silence(0, 9, client="other"), silence(0, 9, rule="drop"))
    assert found == [(0, "firing", False)]


def test_a_silence_over_an_announced_alert_holds_repeats_then_expiry_repeats_at_once() -> None:
    found = silenced_run([40] * 5, silence(1, 3, client="c0"), defaults={"repeat_every": "1d"})
    assert found == [(0, "firing", False), (3, "repeat", False)]


def test_an_announced_alert_resolving_while_silenced_still_sends_its_resolved_notice() -> None:
    found = silenced_run([40, 40, 60], silence(1, 9, client="c0"))
    assert found == [(0, "firing", False), (2, "resolved", False)]


@pytest.mark.parametrize(
    ("rules", "silences", "expected"),
    [
        ({"defaults": {"send_resolved": False}}, (), [(0, "firing", False), (1, "resolved", True)]),
        ({}, (silence(0, 9, client="c0"),), [(0, "firing", True), (1, "resolved", True)]),
    ],
    ids=[
        "send_resolved false keeps the resolve as undelivered history",
        "an episode never announced resolves undelivered",
    ],
)
def test_resolves_not_to_deliver_are_marked_silenced(
    rules: dict[str, Any], silences: tuple[Silence, ...], expected: list[Any]
) -> None:
    assert silenced_run([40, 60], *silences, **rules) == expected


def test_states_survive_a_round_trip_through_records() -> None:
    rules = rules_of(LOW, defaults={"repeat_every": "1h"})
    states, _ = evaluate_alerts(rules, inputs(T0, [40, 60, 40]), NO_STATES)
    again = AlertStates.of(states.records(), states.clients)
    assert again.records() == states.records()
    assert [r.client for r in states.records()] == ["c0", "c2"]


def test_a_new_client_and_a_removed_one_realign_the_states() -> None:
    rules = rules_of(LOW)
    states, _ = evaluate_alerts(rules, inputs(T0, [40, 40], clients=["a", "b"]), NO_STATES)
    step = inputs(at(1), [40, 40], clients=["b", "c"])
    states, found = evaluate_alerts(rules, step, states)
    assert [(t.client, t.kind) for t in found] == [("c", "firing")]
    assert [r.client for r in states.records()] == ["b", "c"]


def _steps(values: list[list[float]]) -> list[AlertInputs]:
    return [inputs(at(h * 6), v) for h, v in enumerate(values)]


def test_step_by_step_through_stored_records_equals_replay_from_scratch() -> None:
    rules = rules_of(
        {"low": {"when": {"score": {"below": 50}}, "clear": {"score": {"at_least": 55}},
                 "for": "6h", "keep_firing_for": "6h"}},
        defaults={"repeat_every": "12h"},
    )  # fmt: skip
    values = [[40, 60], [45, 49], [52, 40], [56, 40], [60, 58], [40, 40], [40, 40]]
    silences = [silence(20, 30, client="c1")]
    states, stepwise = NO_STATES, []
    for step in _steps(values):
        restored = AlertStates.of(states.records(), states.clients)  # as after a restart
        states, found = evaluate_alerts(rules, step, restored, silences)
        stepwise += found
    final, replayed = replay(rules, _steps(values), silences)
    assert stepwise == replayed
    assert final.records() == states.records()
    for k in range(1, len(values)):  # and as of any past instant
        assert replay(rules, _steps(values[:k]), silences)[1] == [
            t for t in replayed if t.at <= at((k - 1) * 6)
        ]
