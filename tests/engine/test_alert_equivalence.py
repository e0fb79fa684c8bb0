"""The vectorized alert evaluation equals its plain per-client reference, step after step, on
random rules, random score series (NaN included), random silences and random instants.
Derandomized: the same examples run every time."""

from __future__ import annotations

from typing import Any

from alert_builders import DAY, at, inputs, rules_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.engine.alert_reference import reference_alerts
from rapport.engine.alerts import NO_STATES, Silence, evaluate_alerts

DURATIONS = [None, "1h", "3h", "6h"]
VALUES = st.one_of(st.none(), st.sampled_from([30.0, 45.0, 49.0, 50.0, 52.0, 55.0, 60.0, 80.0]))


@st.composite
def conditions(draw: st.DrawFn, clear: bool = False) -> dict[str, Any]:
    op = draw(st.sampled_from(["below", "at_most", "above", "at_least"]))
    threshold = draw(st.sampled_from([45.0, 50.0, 55.0]))
    measure = draw(st.sampled_from(["score", "drop", "grade", "component", "coverage", "stale"]))
    if measure == "score":
        return {"score": {op: threshold}}
    if measure == "drop":
        return {"drop": {"within": "7d", op: threshold - 40}}
    if measure == "grade":
        return {"grade": {draw(st.sampled_from(["at_or_worse", "better_than"])): "watch"}}
    if measure == "component":
        return {"component": {"id": "x", op: threshold}}
    if measure == "coverage":
        return {"coverage": "lost"}
    return {"stale": {"kind": "incident", "longer_than": "2d"}}


@st.composite
def rule_sets(draw: st.DrawFn) -> Any:
    rules = {}
    for k in range(draw(st.integers(1, 3))):
        when = draw(conditions())
        rule: dict[str, Any] = {
            "when": when,
            "severity": draw(st.sampled_from(["warning", "critical"])),
        }
        if draw(st.booleans()) and "coverage" not in when:
            clear = dict(when)
            key = next(iter(when))
            if key in ("score", "component"):
                clear = {
                    key: {**{n: v for n, v in when[key].items() if n == "id"}, "at_least": 52.0}
                }
            rule["clear"] = clear
        for key in ("for", "keep_firing_for", "repeat_every"):
            if (d := draw(st.sampled_from(DURATIONS))) is not None:
                rule[key] = d
        rule["send_resolved"] = draw(st.booleans())
        rules[f"r{k}"] = rule
    return rules_of(rules)


@st.composite
def steps(draw: st.DrawFn, clients: int) -> Any:
    def column() -> list[float | None]:
        return draw(st.lists(VALUES, min_size=clients, max_size=clients))

    return {
        "score": column(),
        "points": {"x": column()},
        "before": {7 * DAY: column()},
        "grade": [None if v is None else float(int(v) % 3) for v in column()],
        "coverage": [0.0 if v is None else v / 100 for v in column()],
        "age": {"incident": [None if v is None else v * DAY / 20 for v in column()]},
    }


@st.composite
def silence_sets(draw: st.DrawFn) -> list[Silence]:
    out = []
    for k in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, 8))
        out.append(
            Silence(
                id=str(k),
                client=draw(st.sampled_from([None, "c0", "c1"])),
                rule=draw(st.sampled_from([None, "r0", "r1"])),
                labels=draw(st.sampled_from([{}, {"severity": "critical"}])),
                reason="",
                author="t",
                created=at(start),
                expires=at(start + draw(st.integers(1, 6))),
            )
        )
    return out


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(rules=rule_sets(), silences=silence_sets(), data=st.data())
def test_vectorized_alerts_equal_the_reference_step_by_step(
    rules: Any, silences: list[Silence], data: st.DataObject
) -> None:
    clients = data.draw(st.integers(1, 4))
    hours = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=10))
    fast, slow, moment = NO_STATES, {}, 0
    for gap in hours:
        moment += gap
        step = inputs(at(moment), **data.draw(steps(clients)))
        fast, found = evaluate_alerts(rules, step, fast, silences)
        slow, expected = reference_alerts(rules, step, slow, silences)
        assert found == expected
        assert fast.records() == list(slow.values())
