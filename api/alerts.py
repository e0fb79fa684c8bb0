"""Alerts in the shell: after every evaluation (a subscriber of ``Evaluated``), gather what the
pure alert evaluation (``engine.alerts``) needs from the store — each drop window's past scores,
how long each source has gone without delivering, the silences, the persisted states — run it,
hand the transitions to ``dispatch`` (the app factory's ``AlertDispatch``: notices into the
outbox), persist the new states and the notices (``signals.alerts``), set the alert gauges and
log one line per notice. Nothing is sent here: the outbox's sender delivers in the background.

The outbox is written *before* the states: a crash in between re-derives the transitions at the
next evaluation (at least once: a notice may be enqueued again under a later episode's key,
never lost), where the other order could advance the states past a notice never enqueued.

``preview`` runs the same step as of any instant without writing anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from rapport.api.bundle import RulesBundle
from rapport.api.events import Evaluated
from rapport.engine.alert_rules import NO_ALERTS, AlertRules
from rapport.engine.alerts import (
    AlertInputs,
    AlertStates,
    AlertTransition,
    alert_inputs,
    evaluate_alerts,
)
from rapport.engine.frame import FloatArray
from rapport.engine.replay import drop_windows as engine_drop_windows
from rapport.engine.result import Evaluation
from rapport.signals.alerts import list_silences, load_states, save_alerts
from rapport.signals.collector_state import run_summaries
from rapport.signals.collectors.runner import clients_served
from rapport.signals.model import Client
from rapport.signals.store import Store

log = logging.getLogger("rapport.alerts")


def drop_windows(rules: AlertRules) -> set[float]:
    """Every window (seconds) a drop condition of ``rules`` looks back over."""
    return set(engine_drop_windows(rules))


def past_scores(
    store: Store, rules: AlertRules, ids: tuple[str, ...], as_of: datetime
) -> dict[float, FloatArray]:
    """Per drop window, each client's stored score as of ``as_of`` minus it (NaN: none)."""
    out: dict[float, FloatArray] = {}
    for window in sorted(drop_windows(rules)):
        then = store.scores_at(as_of - timedelta(seconds=window))
        values = [then.get(cid) for cid in ids]
        out[window] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return out


def source_ages(
    store: Store, bundle: RulesBundle, clients: tuple[Client, ...], as_of: datetime
) -> dict[str, FloatArray]:
    """Per signal kind, seconds since a collector of it last succeeded for each client it
    serves (the freshest of several; infinite when it has only failed; NaN: none serves it)."""
    if bundle.collectors is None:
        return {}
    summaries = run_summaries(store, until=as_of)
    index = {c.id: i for i, c in enumerate(clients)}
    ages: dict[str, FloatArray] = {}
    for spec in bundle.collectors.collectors.values():
        summary = summaries.get(spec.id)
        if not spec.enabled or summary is None:
            continue
        last = summary.last_success
        age = np.inf if last is None else (as_of - last).total_seconds()
        rows = [index[c] for c in clients_served(spec, clients) if c in index]
        for kind in spec.kinds:
            column = ages.setdefault(kind, np.full(len(clients), np.nan))
            column[rows] = np.fmin(column[rows], age)
    return ages


def inputs_of(
    store: Store, bundle: RulesBundle, evaluation: Evaluation, clients: tuple[Client, ...]
) -> AlertInputs:
    rules = bundle.alerts or NO_ALERTS
    ids = evaluation.clients.ids
    return alert_inputs(
        evaluation,
        bundle.scorecard.min_coverage,
        past_scores(store, rules, ids, evaluation.as_of),
        source_ages(store, bundle, clients, evaluation.as_of),
    )


def preview(
    store: Store, bundle: RulesBundle, evaluation: Evaluation, clients: tuple[Client, ...]
) -> tuple[AlertStates, list[AlertTransition]]:
    """What the alert rules give as of ``evaluation.as_of`` from the persisted states, with the
    silences then active; nothing is written."""
    inputs = inputs_of(store, bundle, evaluation, clients)
    previous = AlertStates.of(load_states(store), inputs.clients)
    silences = list_silences(store, active_at=evaluation.as_of)
    return evaluate_alerts(bundle.alerts or NO_ALERTS, inputs, previous, silences)


#: ``(rules, clients by id, transitions)`` → handled (``api.notify.dispatch.AlertDispatch``).
Dispatch = Callable[[AlertRules, Mapping[str, Client], Sequence[AlertTransition]], object]


class AlertEvaluator:
    """The ``Evaluated`` subscriber: one alert step per evaluation, persisted before it returns.

    ``on_states(rules, states)`` is told the new states (the metrics' gauges);
    ``dispatch(rules, clients by id, transitions)`` every transition, silenced ones included
    (it decides what is delivered), before the states are saved. States are read from the store
    once, at the first evaluation, then kept in memory alongside it.
    """

    def __init__(
        self,
        store: Store,
        bundle: Callable[[], RulesBundle],
        on_states: Callable[[AlertRules, AlertStates], None] | None = None,
        dispatch: Dispatch | None = None,
    ) -> None:
        self._store = store
        self._bundle = bundle
        self._on_states = on_states
        self._dispatch = dispatch
        self._states: AlertStates | None = None
        self._lock = threading.Lock()

    @property
    def states(self) -> AlertStates | None:
        return self._states

    def __call__(self, event: Evaluated) -> None:
        bundle = self._bundle()
        rules = bundle.alerts or NO_ALERTS
        with self._lock:
            inputs = inputs_of(self._store, bundle, event.evaluation, event.clients)
            previous = self._states
            if previous is None:
                previous = AlertStates.of(load_states(self._store), inputs.clients)
            silences = list_silences(self._store, active_at=event.as_of)
            states, transitions = evaluate_alerts(rules, inputs, previous, silences)
            if self._dispatch is not None and transitions:
                self._dispatch(rules, {c.id: c for c in event.clients}, transitions)
            save_alerts(self._store, states.records(), transitions)
            self._states = states
        for t in transitions:
            log.info(
                "alert %s %s for %s (episode %s, value %s, threshold %s%s)",
                t.rule, t.kind, t.client, t.episode, _short(t.value), _short(t.threshold),
                ", silenced" if t.silenced else "",
            )  # fmt: skip
        if self._on_states is not None:
            self._on_states(rules, states)


def counts(rules: AlertRules, states: AlertStates) -> Mapping[tuple[str, str, str], int]:
    """``(rule, severity, phase)`` → how many clients' alerts are in it (every rule listed)."""
    out: dict[tuple[str, str, str], int] = {}
    for rule_id, rule in rules.rules.items():
        for phase, code in (("pending", 1), ("firing", 2)):
            found = states.rules.get(rule_id)
            n = 0 if found is None else int(np.count_nonzero(found.phase == code))
            out[(rule_id, rule.severity, phase)] = n
    return out


def _short(number: float | None) -> str:
    """A measured number for a log line: 4 significant digits (45.28, not 45.276955513000004)."""
    return "unknown" if number is None else f"{number:.4g}"
