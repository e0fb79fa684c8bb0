"""Score many instants: one scorecard, one load of signals, a sequence of instants in; the score,
grade and coverage of every client at each instant out, as ``[instants × clients]`` matrices, and
the alert notices the alert rules would have given over the same steps.

The one home for "replay a window": ``rapport rules diff`` replays two rulesets over the same
signals, ``POST /api/v1/rules/preview`` replays the proposed rules against the serving ones, and
``rapport history --replay`` rebuilds stored history from it.

One ``SignalSet`` loaded up to the last instant serves every step: ``engine.scoring.evaluate``
already hides, at each ``as_of``, the signals dated or recorded after it (``KindFrame``), so a
step sees the signals as they were known then — a milestone entered late does not move the score
of instants before it was recorded. What the store knows per instant and the signals do not carry
(which sources were stale or covering, how long each had gone without delivering) comes from the
caller as ``sources(instant)``: this module does no IO.

Vectorized over clients (each step is one ``evaluate`` of every client); over time only as far as
the alert rules allow — their state machine is sequential, but its steps are array operations.
A drop condition (``drop: {within: 7d}``) reads the replayed score ``within`` before each step,
scored at that instant by the same rules (not the stored history: the question is what *these*
rules would have said).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from rapport.engine.alert_rules import AlertRules
from rapport.engine.alerts import AlertInputs, AlertTransition, alert_inputs
from rapport.engine.alerts import replay as replay_alerts
from rapport.engine.fields import epoch_seconds
from rapport.engine.frame import BoolArray, ClientSet, FloatArray, SignalSet
from rapport.engine.measure import Measurer
from rapport.engine.model import Scorecard
from rapport.engine.result import INSUFFICIENT_DATA, Evaluation
from rapport.engine.scoring import evaluate

#: Grade codes of ``Replay.grade`` besides the scorecard's grade indexes.
INSUFFICIENT, UNGRADED = -1, -2


@dataclass(frozen=True)
class Sources:
    """What the shell knows of the sources at one instant (each array over the clients' rows):
    ``stale`` and ``covered`` as ``SignalSet`` has them, ``source_age`` as ``AlertInputs`` has it.
    Empty mappings: no collector says anything (a store fed by imports only)."""

    stale: Mapping[str, BoolArray] = field(default_factory=dict)
    covered: Mapping[str, BoolArray] = field(default_factory=dict)
    source_age: Mapping[str, FloatArray] = field(default_factory=dict)


NO_SOURCES = Sources()

#: The sources as of an instant (``api.replay_sources`` asks the store).
SourcesAt = Callable[[datetime], Sources]


@dataclass(frozen=True)
class Replay:
    """A scorecard replayed over ``instants`` (oldest first): row ``t`` of each matrix is
    ``instants[t]``, column ``i`` is ``clients.ids[i]``.

    ``score`` is NaN where a client was unscored or graded insufficient_data; ``grade`` is an
    index into ``grade_names``, or ``INSUFFICIENT`` / ``UNGRADED``; ``alerts`` are every notice the
    alert rules gave over the steps, from no state at the first instant (empty without rules): the
    ``firing`` and ``resolved`` notices of each episode, not repeat reminders (``episodes_only``).
    ``evaluations`` holds each step's ``Evaluation`` only when asked for (``keep=True``).
    """

    instants: tuple[datetime, ...]
    clients: ClientSet
    rules_version: str
    grade_names: tuple[str, ...]
    score: FloatArray
    grade: npt.NDArray[np.int16]
    coverage: FloatArray
    alerts: tuple[AlertTransition, ...] = ()
    evaluations: tuple[Evaluation, ...] = ()

    def grade_name(self, code: int) -> str | None:
        """The name of a ``grade`` code: a grade, ``insufficient_data``, or None (ungraded)."""
        if code >= 0:
            return self.grade_names[code]
        return INSUFFICIENT_DATA if code == INSUFFICIENT else None


def window(end: datetime, days: int, step: timedelta) -> tuple[datetime, ...]:
    """The instants of a ``days``-long window ending at ``end``, ``step`` apart, oldest first:
    ``end - days``, …, ``end`` (``end`` always included; the first may fall short of the start
    when ``step`` does not divide the window)."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    if days < 0:
        raise ValueError("days must not be negative")
    count = int(timedelta(days=days) / step)
    return tuple(end - k * step for k in range(count, -1, -1))


@dataclass(frozen=True)
class Side:
    """One ruleset to replay: its scorecard (validated), the clients as it segments them, the
    version its evaluations carry, and its alert rules (None: no alerts)."""

    scorecard: Scorecard
    clients: ClientSet
    rules_version: str
    alerts: AlertRules | None = None


def replay(
    scorecard: Scorecard,
    clients: ClientSet,
    signals: SignalSet,
    instants: Sequence[datetime],
    rules_version: str,
    *,
    alerts: AlertRules | None = None,
    sources: SourcesAt | None = None,
    keep: bool = False,
) -> Replay:
    """Score ``clients`` at every one of ``instants`` (aware, strictly increasing) with
    ``scorecard`` (validated) over ``signals`` (loaded up to the last instant at least), and replay
    ``alerts`` over the same steps. Pure: ``sources`` is the caller's, asked once per instant
    scored. ``keep`` keeps each step's ``Evaluation`` (memory: one per instant)."""
    side = Side(scorecard, clients, rules_version, alerts)
    return replay_together([side], signals, instants, sources=sources, keep=keep)[0]


def replay_together(
    sides: Sequence[Side],
    signals: SignalSet,
    instants: Sequence[datetime],
    *,
    sources: SourcesAt | None = None,
    keep: bool = False,
) -> tuple[Replay, ...]:
    """``replay`` of each side (same clients, row for row) over the same signals, instants and
    sources, sharing one ``Measurer`` per instant: what the sides measure alike — every component
    a rules change leaves alone — is measured once. Equal to replaying each side on its own."""
    steps = tuple(instants)
    if any(later <= earlier for earlier, later in pairwise(steps)):
        raise ValueError("instants must be strictly increasing")
    if len({len(side.clients) for side in sides}) != 1:
        raise ValueError("give one side or more, every one scoring the same clients")
    lookback = tuple(sorted({w for side in sides for w in drop_windows(side.alerts)}))
    # Each drop window needs the score that long before every step: scored once per instant.
    needed = sorted({*steps, *(t - timedelta(seconds=w) for t in steps for w in lookback)})
    at = sources or (lambda _instant: NO_SOURCES)
    scored: list[dict[datetime, Evaluation]] = [{} for _ in sides]
    known: dict[datetime, Sources] = {}
    for instant in needed:
        known[instant] = at(instant)
        view = replace(signals, stale=known[instant].stale, covered=known[instant].covered)
        measurer = Measurer(view, len(sides[0].clients), epoch_seconds(instant))
        for found, side in zip(scored, sides, strict=True):
            found[instant] = evaluate(
                side.scorecard, side.clients, view, instant, side.rules_version, measurer=measurer
            )
    return tuple(
        _replayed(side, found, known, steps, keep)
        for side, found in zip(sides, scored, strict=True)
    )


def _replayed(
    side: Side,
    scored: Mapping[datetime, Evaluation],
    known: Mapping[datetime, Sources],
    steps: tuple[datetime, ...],
    keep: bool,
) -> Replay:
    evaluations = [scored[t] for t in steps]
    notices: tuple[AlertTransition, ...] = ()
    if side.alerts is not None and side.alerts.rules:
        lookback = drop_windows(side.alerts)
        inputs = [_inputs(side.scorecard, scored, known, t, lookback) for t in steps]
        notices = tuple(replay_alerts(episodes_only(side.alerts), inputs)[1])
    width = len(side.clients)
    return Replay(
        instants=steps,
        clients=side.clients,
        rules_version=side.rules_version,
        grade_names=tuple(g.name for g in side.scorecard.grades),
        score=_floats([e.score for e in evaluations], width),
        grade=_grades([_grade_codes(e) for e in evaluations], width),
        coverage=_floats([e.coverage for e in evaluations], width),
        alerts=notices,
        evaluations=tuple(evaluations) if keep else (),
    )


def episodes_only(alerts: AlertRules) -> AlertRules:
    """``alerts`` without repeat reminders: a replay is about when episodes start and end, which
    reminders never change (they touch only ``repeats`` and ``last_notified``), and a window where
    thousands of alerts keep firing would otherwise build a reminder each every few days."""
    rules = {rid: r.model_copy(update={"repeat_every": None}) for rid, r in alerts.rules.items()}
    defaults = alerts.defaults.model_copy(update={"repeat_every": None})
    return alerts.model_copy(update={"rules": rules, "defaults": defaults})


def drop_windows(alerts: AlertRules | None) -> tuple[float, ...]:
    """Every window (seconds) a drop condition of ``alerts`` looks back over, ascending."""
    if alerts is None:
        return ()
    found = {
        condition.drop.within
        for rule in alerts.rules.values()
        for condition in (rule.when, rule.clear)
        if condition is not None and condition.drop is not None
    }
    return tuple(sorted(found))


def _inputs(
    scorecard: Scorecard,
    scored: Mapping[datetime, Evaluation],
    known: Mapping[datetime, Sources],
    instant: datetime,
    lookback: tuple[float, ...],
) -> AlertInputs:
    before = {w: scored[instant - timedelta(seconds=w)].score for w in lookback}
    source_age = known[instant].source_age
    return alert_inputs(scored[instant], scorecard.min_coverage, before, source_age)


def _grade_codes(evaluation: Evaluation) -> npt.NDArray[np.int16]:
    codes = evaluation.grade.astype(np.int16)
    codes[(codes < 0) & ~evaluation.insufficient] = UNGRADED
    codes[evaluation.insufficient] = INSUFFICIENT
    return codes


def _floats(rows: list[FloatArray], width: int) -> FloatArray:
    return np.stack(rows) if rows else np.empty((0, width), dtype=np.float64)


def _grades(rows: list[npt.NDArray[np.int16]], width: int) -> npt.NDArray[np.int16]:
    return np.stack(rows) if rows else np.empty((0, width), dtype=np.int16)
