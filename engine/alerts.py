"""Alert evaluation: alert rules, one evaluation's arrays and the previous alert states in; the new
states and the notifications to send out. Pure: no IO, no clock — ``as_of`` is the evaluation's.

Per rule × client, an alert is inactive, pending (its ``when`` has held since ``active_since``,
for less than the rule's ``for``) or firing (since ``fired_at``: one *episode*). A firing alert
resolves once its ``clear`` condition (default: ``when`` no longer holds) has held for
``keep_firing_for`` (default 0: at once); while neither holds (the hysteresis band) it keeps
firing. An unknown value (NaN: no history for a drop, a client graded insufficient_data for a
score condition, a kind no collector delivers) changes nothing, except that a pending alert
falls back to inactive: ``for`` asks for the condition to have *held*.

Transitions are the notices: ``firing`` when an episode starts, ``repeat`` every ``repeat_every``
while firing — and at once when a silence over a firing alert ends (alertmanager#2896) — and
``resolved`` when it ends. A silenced alert's transitions are kept (``silenced=True``: history,
not to be delivered), except that a resolve is delivered when the rule sends resolved notices
and the episode was announced, silenced or not now (alertmanager#226). Every transition is kept,
however quickly they follow (alertmanager#2398): no grouping, no throttling.

Evaluating step by step, persisting the states in between, equals replaying the same inputs from
no state (``replay``): everything a state holds is an instant or a count, never "now".
``engine.alert_reference`` is the plain per-client version this one is proven equal to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from rapport.engine.alert_rules import AlertRule, AlertRules, Condition
from rapport.engine.frame import FloatArray
from rapport.engine.result import Evaluation

Kind = Literal["firing", "repeat", "resolved"]
Phase = Literal["pending", "firing"]
INACTIVE, PENDING, FIRING = 0, 1, 2


class AlertTransition(NamedTuple):
    """One notice of one alert; ``dedupe_key`` is unique per notice (``n`` counts repeats).

    A named tuple rather than a frozen dataclass: a step where tens of thousands of alerts fire
    at once builds one per notice, and a tuple is built four times faster."""

    rule: str
    client: str
    episode: str
    kind: Kind
    at: datetime
    severity: str
    labels: Mapping[str, str]
    value: float | None
    threshold: float | None
    silenced: bool
    dedupe_key: str


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts it matches from ``created`` until ``expires`` (excluded): those of
    ``client`` (None: any), of ``rule`` (None: any) whose labels (with ``severity``) include
    every one of ``labels``."""

    id: str
    client: str | None
    rule: str | None
    labels: Mapping[str, str]
    reason: str
    author: str
    created: datetime
    expires: datetime

    def active(self, at: datetime) -> bool:
        return self.created <= at < self.expires

    def matches_rule(self, rule_id: str, labels: Mapping[str, str]) -> bool:
        if self.rule is not None and self.rule != rule_id:
            return False
        return all(labels.get(k) == v for k, v in self.labels.items())


@dataclass(frozen=True)
class AlertState:
    """One non-inactive alert, as persisted: times are aware UTC; ``repeats`` counts the repeat
    notices of the episode; ``muted`` whether a silence held it at the last evaluation."""

    rule: str
    client: str
    phase: Phase
    active_since: datetime
    fired_at: datetime | None = None
    last_notified: datetime | None = None
    repeats: int = 0
    clearing_since: datetime | None = None
    muted: bool = False

    @property
    def episode(self) -> str | None:
        return None if self.fired_at is None else episode_id(self.fired_at.timestamp())


@dataclass(frozen=True)
class AlertInputs:
    """One evaluation as the alert rules read it; arrays over ``clients`` (row order).

    ``grade_rank`` is the grade's position in the scorecard (0 the best; NaN ungraded or
    insufficient_data); ``score`` and ``points`` are NaN for insufficient_data clients.
    ``score_before`` maps a window (seconds) to each client's stored score as of ``as_of``
    minus it; ``source_age`` a signal kind to the seconds since its source last delivered for
    each client (NaN: no source delivers it for that client).
    """

    as_of: datetime
    clients: tuple[str, ...]
    score: FloatArray
    grade_rank: FloatArray
    grade_names: tuple[str, ...]
    coverage: FloatArray
    min_coverage: float
    points: Mapping[str, FloatArray]
    score_before: Mapping[float, FloatArray] = field(default_factory=dict)
    source_age: Mapping[str, FloatArray] = field(default_factory=dict)


def alert_inputs(
    evaluation: Evaluation,
    min_coverage: float,
    score_before: Mapping[float, FloatArray] | None = None,
    source_age: Mapping[str, FloatArray] | None = None,
) -> AlertInputs:
    """The ``AlertInputs`` of a scorer's ``evaluation``."""
    insufficient = evaluation.insufficient
    grade = evaluation.grade.astype(np.float64)
    grade[(evaluation.grade < 0) | insufficient] = np.nan
    points = evaluation.points.copy()
    points[insufficient] = np.nan
    return AlertInputs(
        as_of=evaluation.as_of,
        clients=evaluation.clients.ids,
        score=evaluation.score,
        grade_rank=grade,
        grade_names=evaluation.grade_names,
        coverage=evaluation.coverage,
        min_coverage=min_coverage,
        points={cid: points[:, j] for j, cid in enumerate(evaluation.component_ids)},
        score_before=dict(score_before or {}),
        source_age=dict(source_age or {}),
    )


# --- conditions ----------------------------------------------------------------------------------


def measure(condition: Condition, inputs: AlertInputs) -> tuple[FloatArray, str, float]:
    """``(values, comparison key, threshold)`` of ``condition``: it holds where
    ``values <op> threshold``; NaN values are unknown."""
    nan = np.full(len(inputs.clients), np.nan)
    if condition.score is not None:
        return inputs.score, condition.score.op, condition.score.threshold
    if condition.drop is not None:
        before = inputs.score_before.get(condition.drop.within, nan)
        return before - inputs.score, condition.drop.op, condition.drop.threshold
    if condition.grade is not None:
        rank = float(inputs.grade_names.index(condition.grade.grade))
        op = "at_least" if condition.grade.at_or_worse is not None else "below"
        return inputs.grade_rank, op, rank
    if condition.component is not None:
        values = inputs.points.get(condition.component.id, nan)
        return values, condition.component.op, condition.component.threshold
    if condition.stale is not None:
        return (
            inputs.source_age.get(condition.stale.kind, nan),
            "above",
            condition.stale.longer_than,
        )
    return inputs.coverage, "below", inputs.min_coverage  # coverage: lost


def compare(values: FloatArray, op: str, threshold: float) -> npt.NDArray[np.bool_]:
    """``values <op> threshold``; False where NaN."""
    with np.errstate(invalid="ignore"):
        if op == "below":
            return values < threshold
        if op == "at_most":
            return values <= threshold
        if op == "above":
            return values > threshold
        return values >= threshold


def rule_labels(rule: AlertRule) -> dict[str, str]:
    """A rule's labels as silences and notices see them: its own plus ``severity``."""
    return {**rule.labels, "severity": rule.severity}


@lru_cache(maxsize=4096)  # an evaluation's episodes mostly share their few start instants
def episode_id(fired_at: float) -> str:
    """The episode's id: when it started, UTC, to the microsecond (``20270104T120000Z``)."""
    moment = from_epoch(fired_at)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y%m%dT%H%M%S") + fraction + "Z"


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def transition(
    rule_id: str, rule: AlertRule, client: str, *, fired_at: float, kind: Kind, n: int,
    at: datetime, value: float, threshold: float, silenced: bool,
    labels: Mapping[str, str] | None = None,
) -> AlertTransition:  # fmt: skip
    """The notice ``kind`` of the episode that fired at ``fired_at`` (``n``: its repeat count);
    ``labels`` are ``rule_labels(rule)`` when the caller already built them."""
    episode = episode_id(fired_at)
    return AlertTransition(
        rule=rule_id,
        client=client,
        episode=episode,
        kind=kind,
        at=at,
        severity=rule.severity,
        labels=rule_labels(rule) if labels is None else labels,
        value=None if math.isnan(value) else value,  # NaN: unknown
        threshold=float(threshold),
        silenced=silenced,
        dedupe_key=f"{rule_id}|{client}|{episode}|{kind}|{n}",
    )


def muted_rows(
    rule_id: str, rule: AlertRule, clients: Sequence[str], silences: Iterable[Silence], at: datetime
) -> set[int] | None:
    """Rows a silence active at ``at`` mutes for ``rule_id``; None means every row."""
    rows: set[int] = set()
    index: dict[str, int] | None = None
    labels = rule_labels(rule)
    for silence in silences:
        if not silence.active(at) or not silence.matches_rule(rule_id, labels):
            continue
        if silence.client is None:
            return None
        index = index if index is not None else {c: i for i, c in enumerate(clients)}
        row = index.get(silence.client)
        if row is not None:
            rows.add(row)
    return rows


# --- states as arrays ----------------------------------------------------------------------------


@dataclass
class RuleStates:
    """One rule's alerts over a row order of clients; times are epoch seconds (NaN: none)."""

    phase: npt.NDArray[np.int8]
    active_since: FloatArray
    fired_at: FloatArray
    last_notified: FloatArray
    repeats: npt.NDArray[np.int64]
    clearing_since: FloatArray
    muted: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls, size: int) -> RuleStates:
        nan = np.full(size, np.nan)
        return cls(
            np.zeros(size, np.int8), nan.copy(), nan.copy(), nan.copy(),
            np.zeros(size, np.int64), nan.copy(), np.zeros(size, np.bool_),
        )  # fmt: skip

    def copy(self) -> RuleStates:
        return RuleStates(*(getattr(self, f).copy() for f in _FIELDS))


_FIELDS = (
    "phase",
    "active_since",
    "fired_at",
    "last_notified",
    "repeats",
    "clearing_since",
    "muted",
)


@dataclass(frozen=True)
class AlertStates:
    """Every rule's alert states over ``clients`` (row order)."""

    clients: tuple[str, ...]
    rules: Mapping[str, RuleStates]

    @classmethod
    def of(cls, records: Iterable[AlertState], clients: Sequence[str]) -> AlertStates:
        """States from persisted ``records`` (those of unknown clients are dropped)."""
        index = {c: i for i, c in enumerate(clients)}
        rules: dict[str, RuleStates] = {}
        for r in records:
            row = index.get(r.client)
            if row is None:
                continue
            s = rules.setdefault(r.rule, RuleStates.empty(len(clients)))
            s.phase[row] = FIRING if r.phase == "firing" else PENDING
            s.active_since[row] = r.active_since.timestamp()
            s.fired_at[row] = _epoch(r.fired_at)
            s.last_notified[row] = _epoch(r.last_notified)
            s.repeats[row] = r.repeats
            s.clearing_since[row] = _epoch(r.clearing_since)
            s.muted[row] = r.muted
        return cls(tuple(clients), rules)

    def records(self) -> list[AlertState]:
        """Every pending or firing alert, by rule then row."""
        out = []
        for rule_id, s in self.rules.items():
            for row in np.flatnonzero(s.phase != INACTIVE).tolist():
                out.append(
                    AlertState(
                        rule=rule_id,
                        client=self.clients[row],
                        phase="firing" if s.phase[row] == FIRING else "pending",
                        active_since=from_epoch(float(s.active_since[row])),
                        fired_at=_moment(float(s.fired_at[row])),
                        last_notified=_moment(float(s.last_notified[row])),
                        repeats=int(s.repeats[row]),
                        clearing_since=_moment(float(s.clearing_since[row])),
                        muted=bool(s.muted[row]),
                    )
                )
        return out

    def of_rule(self, rule_id: str, clients: tuple[str, ...]) -> RuleStates:
        """``rule_id``'s states re-ordered to ``clients`` (a copy; new clients inactive)."""
        found = self.rules.get(rule_id)
        if found is None:
            return RuleStates.empty(len(clients))
        if clients == self.clients:
            return found.copy()
        return _realigned(found, self.clients, clients)


NO_STATES = AlertStates((), {})


def _realigned(s: RuleStates, before: tuple[str, ...], after: tuple[str, ...]) -> RuleStates:
    out = RuleStates.empty(len(after))
    index = {c: i for i, c in enumerate(before)}
    pairs = [(new, index[c]) for new, c in enumerate(after) if c in index]
    if pairs:
        new_rows, old_rows = (np.array(p) for p in zip(*pairs, strict=True))
        for name in _FIELDS:
            getattr(out, name)[new_rows] = getattr(s, name)[old_rows]
    return out


def _epoch(moment: datetime | None) -> float:
    return np.nan if moment is None else moment.timestamp()


def _moment(seconds: float) -> datetime | None:
    return None if np.isnan(seconds) else from_epoch(seconds)


# --- the step ----------------------------------------------------------------------------------


def evaluate_alerts(
    rules: AlertRules,
    inputs: AlertInputs,
    previous: AlertStates,
    silences: Sequence[Silence] = (),
) -> tuple[AlertStates, list[AlertTransition]]:
    """The alert states as of ``inputs.as_of`` and the notices of the step from ``previous``.

    Transitions come by rule (file order), then client row; at most one per alert per step.
    """
    states: dict[str, RuleStates] = {}
    transitions: list[AlertTransition] = []
    for rule_id, rule in rules.rules.items():
        s = previous.of_rule(rule_id, inputs.clients)
        transitions += _step(rules, rule_id, rule, inputs, s, silences=silences)
        states[rule_id] = s
    return AlertStates(inputs.clients, states), transitions


def _step(
    rules: AlertRules, rule_id: str, rule: AlertRule, inputs: AlertInputs, s: RuleStates,
    *, silences: Sequence[Silence],
) -> list[AlertTransition]:  # fmt: skip
    """Advance ``s`` (in place) by one evaluation; the notices it gives."""
    t = inputs.as_of.timestamp()
    when_values, op, threshold = measure(rule.when, inputs)
    holds = compare(when_values, op, threshold)
    if rule.clear is None:
        clear_values, clear_threshold = when_values, threshold
        clear = ~holds & ~np.isnan(when_values)
    else:
        clear_values, clear_op, clear_threshold = measure(rule.clear, inputs)
        clear = compare(clear_values, clear_op, clear_threshold) & ~holds
    muted = np.zeros(len(inputs.clients), np.bool_)
    rows = muted_rows(rule_id, rule, inputs.clients, silences, inputs.as_of)
    muted[:] = rows is None
    if rows:
        muted[list(rows)] = True

    was_firing = s.phase == FIRING
    # inactive → pending; pending without its condition → inactive; pending long enough → firing
    starting = (s.phase == INACTIVE) & holds
    s.active_since[starting] = t
    s.phase[starting] = PENDING
    dropped = (s.phase == PENDING) & ~holds
    s.phase[dropped] = INACTIVE
    s.active_since[dropped] = np.nan
    fired = (s.phase == PENDING) & (t - s.active_since >= (rule.for_ or 0.0))
    # firing: clear (for keep_firing_for) resolves; anything else resets the clearing timer
    s.clearing_since[was_firing & ~clear] = np.nan
    clearing = was_firing & clear
    s.clearing_since[clearing & np.isnan(s.clearing_since)] = t
    resolved = clearing & (t - s.clearing_since >= (rule.keep_firing_for or 0.0))
    repeat_every = rules.repeat_every(rule)
    late = np.zeros_like(holds) if repeat_every is None else t - s.last_notified >= repeat_every
    repeating = was_firing & ~resolved & ~muted & (s.muted | np.isnan(s.last_notified) | late)

    send_resolved = rules.send_resolved(rule)
    out: list[tuple[int, Kind, int, float, bool, float]] = []
    for row in np.flatnonzero(fired).tolist():
        out.append((row, "firing", 0, t, bool(muted[row]), float(when_values[row])))
    for row in np.flatnonzero(repeating).tolist():
        n = int(s.repeats[row]) + 1
        out.append((row, "repeat", n, float(s.fired_at[row]), False, float(when_values[row])))
    for row in np.flatnonzero(resolved).tolist():
        silent = not send_resolved or bool(np.isnan(s.last_notified[row]))
        out.append((row, "resolved", 0, float(s.fired_at[row]), silent, float(clear_values[row])))

    s.phase[fired] = FIRING
    s.fired_at[fired] = t
    s.repeats[fired] = 0
    s.last_notified[fired & ~muted] = t
    s.repeats[repeating] += 1
    s.last_notified[repeating] = t
    for name in ("active_since", "fired_at", "last_notified", "clearing_since"):
        getattr(s, name)[resolved] = np.nan
    s.phase[resolved] = INACTIVE
    s.repeats[resolved] = 0
    s.muted[:] = muted & (s.phase != INACTIVE)
    out.sort(key=lambda item: item[0])
    return _notices(
        rule_id, rule, inputs, out, fire=float(threshold), resolve=float(clear_threshold)
    )


def _notices(
    rule_id: str, rule: AlertRule, inputs: AlertInputs, out: list[Any], *, fire: float,
    resolve: float,
) -> list[AlertTransition]:  # fmt: skip
    """The notices of ``out`` (row, kind, repeat count, episode start, silenced, value), built
    positionally and inline, as ``transition`` builds one: a step where tens of thousands of
    alerts fire at once spends its time here."""
    labels = rule_labels(rule)  # shared by the rule's notices: a read-only mapping to them
    at, severity, clients = inputs.as_of, rule.severity, inputs.clients
    return [
        AlertTransition(
            rule_id, client, episode, kind, at, severity, labels,
            None if math.isnan(value) else value,  # NaN: unknown
            resolve if kind == "resolved" else fire, silent,
            f"{rule_id}|{client}|{episode}|{kind}|{n}",
        )
        for row, kind, n, fired_at, silent, value in out
        for client, episode in ((clients[row], episode_id(fired_at)),)
    ]  # fmt: skip


def replay(
    rules: AlertRules, steps: Iterable[AlertInputs], silences: Sequence[Silence] = ()
) -> tuple[AlertStates, list[AlertTransition]]:
    """Every step's notices from no state: what step-by-step evaluation gave, by construction."""
    states, transitions = NO_STATES, []
    for inputs in steps:
        states, found = evaluate_alerts(rules, inputs, states, silences)
        transitions += found
    return states, transitions
