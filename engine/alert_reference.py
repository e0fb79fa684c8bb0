"""The plain per-client alert evaluation ``engine.alerts.evaluate_alerts`` is proven equal to
(``tests/engine/test_alert_equivalence.py``): one alert at a time, one ``if`` per rule of the
module docstring of ``engine.alerts``, on persisted ``AlertState`` records. Slow; for tests and
for the benchmark's ratio only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rapport.engine.alert_rules import AlertRule, AlertRules
from rapport.engine.alerts import (
    AlertInputs,
    AlertState,
    AlertTransition,
    Kind,
    Silence,
    compare,
    from_epoch,
    measure,
    rule_labels,
    transition,
)

Key = tuple[str, str]


def _holds(values: float, op: str, threshold: float) -> bool:
    """One value compared, by ``compare`` (the one definition of the comparisons)."""
    if math.isnan(values):
        return False
    return bool(compare(np.array([values]), op, threshold)[0])


def _muted(
    rule_id: str, rule: AlertRule, client: str, silences: Sequence[Silence], inputs: AlertInputs
) -> bool:
    labels = rule_labels(rule)
    return any(
        s.active(inputs.as_of) and s.matches_rule(rule_id, labels) and s.client in (None, client)
        for s in silences
    )


def reference_alerts(
    rules: AlertRules,
    inputs: AlertInputs,
    previous: dict[Key, AlertState],
    silences: Sequence[Silence] = (),
) -> tuple[dict[Key, AlertState], list[AlertTransition]]:
    """``evaluate_alerts`` one alert at a time, on ``(rule, client)`` → state records."""
    states: dict[Key, AlertState] = {}
    out: list[AlertTransition] = []
    for rule_id, rule in rules.rules.items():
        when = measure(rule.when, inputs)
        clear = measure(rule.clear, inputs) if rule.clear is not None else None
        for row, client in enumerate(inputs.clients):
            value = float(when[0][row])
            holds = _holds(value, when[1], when[2])
            if clear is None:
                clear_value, clear_threshold = value, when[2]
                clears = not holds and not math.isnan(value)
            else:
                clear_value, clear_threshold = float(clear[0][row]), clear[2]
                clears = _holds(clear_value, clear[1], clear[2]) and not holds
            muted = _muted(rule_id, rule, client, silences, inputs)
            state, notice = _one(
                rules, rule_id, rule, client, previous.get((rule_id, client)), inputs=inputs,
                when=(holds, value, when[2]), clear=(clears, clear_value, clear_threshold),
                muted=muted,
            )  # fmt: skip
            if state is not None:
                states[(rule_id, client)] = state
            if notice is not None:
                out.append(notice)
    return states, out


def _one(
    rules: AlertRules, rule_id: str, rule: AlertRule, client: str, state: AlertState | None,
    *, inputs: AlertInputs, when: tuple[bool, float, float], clear: tuple[bool, float, float],
    muted: bool,
) -> tuple[AlertState | None, AlertTransition | None]:  # fmt: skip
    t = inputs.as_of.timestamp()
    now = from_epoch(t)
    holds, value, threshold = when
    clears, clear_value, clear_threshold = clear

    def notice(
        kind: Kind, n: int, fired: float, silent: bool, *, v: float, th: float
    ) -> AlertTransition:
        return transition(
            rule_id, rule, client, fired_at=fired, kind=kind, n=n, at=inputs.as_of, value=v,
            threshold=th, silenced=silent,
        )  # fmt: skip

    if state is None or state.phase == "pending":
        if not holds:
            return None, None
        since = now if state is None else state.active_since
        if t - since.timestamp() < (rule.for_ or 0.0):
            return AlertState(rule_id, client, "pending", since, muted=muted), None
        fired = AlertState(
            rule_id, client, "firing", since, fired_at=now,
            last_notified=None if muted else now, muted=muted,
        )  # fmt: skip
        return fired, notice("firing", 0, t, muted, v=value, th=threshold)

    assert state.fired_at is not None
    fired_at = state.fired_at.timestamp()
    if clears:
        clearing = state.clearing_since or now
        if t - clearing.timestamp() >= (rule.keep_firing_for or 0.0):
            silent = not rules.send_resolved(rule) or state.last_notified is None
            return None, notice("resolved", 0, fired_at, silent, v=clear_value, th=clear_threshold)
        state = replace(state, clearing_since=clearing)
    else:
        state = replace(state, clearing_since=None)
    every = rules.repeat_every(rule)
    last = state.last_notified
    due = last is None or state.muted or (every is not None and t - last.timestamp() >= every)
    if not muted and due:
        n = state.repeats + 1
        state = replace(state, repeats=n, last_notified=now, muted=False)
        return state, notice("repeat", n, fired_at, False, v=value, th=threshold)
    return replace(state, muted=muted), None
