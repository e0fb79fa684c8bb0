"""What a rules change does to every client: two replays of the same clients over the same
instants (``engine.replay``), one per ruleset, in; a ``RulesDiff`` out — per client the score and
grade now under each, the largest difference over the window, the grade transitions that appear
or vanish, the alerts that fire under one and not the other — plus the counts ``--fail-on``
conditions read and the one-sentence summary. Pure.

Two scores are the same when both are unscored or they differ by less than ``TOLERANCE`` (scores
are rounded to 9 decimals by the scorer). An alert is the start of an episode (a ``firing``
notice): the same rule, client and instant under both rulesets is the same alert. A transition
is a client's grade changing between two consecutive instants; the same client, instant, grade
before and after under both is the same transition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from rapport.engine.replay import Replay

TOLERANCE = 1e-9


@dataclass(frozen=True)
class GradeTransition:
    """``client`` went from grade ``before`` to ``after`` at ``at`` (None: ungraded)."""

    client: str
    at: datetime
    before: str | None
    after: str | None


@dataclass(frozen=True)
class AlertChange:
    """An alert episode of ``rule`` for ``client`` starting at ``at`` under only one ruleset."""

    rule: str
    client: str
    at: datetime
    severity: str


T = TypeVar("T", GradeTransition, AlertChange)  # what a diff groups by client


@dataclass(frozen=True)
class ClientDiff:
    """One client whose outcome differs: now (the last instant) under base and head, the
    largest score difference (head − base) over the window and when (None when never both
    scored), and its transitions and alerts found under one ruleset only."""

    client: str
    base_score: float | None
    head_score: float | None
    base_grade: str | None
    head_grade: str | None
    largest: float | None
    largest_at: datetime | None
    appeared: tuple[GradeTransition, ...] = ()
    vanished: tuple[GradeTransition, ...] = ()
    new_alerts: tuple[AlertChange, ...] = ()
    gone_alerts: tuple[AlertChange, ...] = ()

    @property
    def grade_changed(self) -> bool:
        return self.base_grade != self.head_grade

    @property
    def score_changed(self) -> bool:
        return not _same(self.base_score, self.head_score)


@dataclass(frozen=True)
class RulesDiff:
    """Every client whose outcome differs between ``base`` and ``head`` over the window
    (``start`` … ``end``, ``steps`` instants), by client id. Empty ``clients``: no difference."""

    base_version: str
    head_version: str
    start: datetime
    end: datetime
    steps: int
    clients: tuple[ClientDiff, ...]
    compared: int = 0  # how many clients both rulesets scored

    @property
    def empty(self) -> bool:
        return not self.clients

    @property
    def days(self) -> int:
        return round((self.end - self.start).total_seconds() / 86400)

    def moves(self) -> list[tuple[tuple[str | None, str | None], int]]:
        """``((base grade, head grade), clients)`` now, most clients first, then by names."""
        found = Counter((c.base_grade, c.head_grade) for c in self.clients if c.grade_changed)
        return sorted(found.items(), key=lambda item: (-item[1], str(item[0])))

    def counts(self) -> dict[str, float]:
        """The figures a ``--fail-on`` condition names (``engine.fail_on.METRICS``)."""
        largest = [abs(c.largest) for c in self.clients if c.largest is not None]
        return {
            "clients-changed": len(self.clients),
            "grade-changes": sum(c.grade_changed for c in self.clients),
            "score-changes": sum(c.score_changed for c in self.clients),
            "max-score-diff": max(largest, default=0.0),
            "new-transitions": sum(len(c.appeared) for c in self.clients),
            "gone-transitions": sum(len(c.vanished) for c in self.clients),
            "new-alerts": sum(len(c.new_alerts) for c in self.clients),
            "fewer-alerts": sum(len(c.gone_alerts) for c in self.clients),
        }

    def summary(self) -> str:
        """One sentence: "7 clients move healthy → watch; 3 new alerts in 90 days, 2 fewer"."""
        if self.empty:
            if not self.compared:
                return "No difference: there is no client to compare (the store has none)."
            who = (
                "the client scores" if self.compared == 1 else f"all {self.compared} clients score"
            )
            return f"No difference: {who} the same over {self.days} days."
        counts = self.counts()
        moves = [
            f"{n} {'client moves' if n == 1 else 'clients move'} {_name(a)} → {_name(b)}"
            for (a, b), n in self.moves()
        ]
        if not moves:
            n = int(counts["score-changes"])
            moves = [f"no client changes grade ({_plural(n, 'score')} {_verb(n, 'move')} now)"]
        new, fewer = int(counts["new-alerts"]), int(counts["fewer-alerts"])
        if new or fewer:
            alerts = f"{_plural(new, 'new alert')} in {self.days} days, {fewer} fewer"
        else:
            alerts = f"the same alerts in {self.days} days"
        largest = f"largest score difference {counts['max-score-diff']:.1f} points"
        return f"{', '.join(moves)}; {alerts}; {largest}."


def diff(base: Replay, head: Replay) -> RulesDiff:
    """The difference ``head`` makes against ``base``: same clients (row order) and instants."""
    if base.clients.ids != head.clients.ids or base.instants != head.instants:
        raise ValueError("the two replays must cover the same clients and instants")
    ids = base.clients.ids
    gap = head.score - base.score
    both = ~np.isnan(gap)
    magnitude = np.where(both, np.abs(gap), -1.0)
    worst = magnitude.argmax(axis=0) if len(base.instants) else np.zeros(len(ids), np.intp)
    appeared, vanished = _transition_changes(base, head)
    new_alerts, gone_alerts = _set_difference(_alerts(head), _alerts(base))
    grouped = {
        key: _by_client(items)
        for key, items in (
            ("appeared", appeared), ("vanished", vanished),
            ("new_alerts", new_alerts), ("gone_alerts", gone_alerts),
        )
    }  # fmt: skip
    changed = _changed_rows(base, head, magnitude)
    index = {client: row for row, client in enumerate(ids)}
    for group in grouped.values():
        changed |= {index[client] for client in group}
    out = []
    for row in sorted(changed, key=lambda r: ids[r]):
        client, t = ids[row], int(worst[row])
        known = bool(len(base.instants)) and magnitude[t, row] >= 0
        out.append(
            ClientDiff(
                client=client,
                base_score=_now(base.score, row),
                head_score=_now(head.score, row),
                base_grade=base.grade_name(int(base.grade[-1, row])),
                head_grade=head.grade_name(int(head.grade[-1, row])),
                largest=float(gap[t, row]) if known else None,
                largest_at=base.instants[t] if known else None,
                **{key: tuple(group.get(client, ())) for key, group in grouped.items()},
            )
        )
    return RulesDiff(
        base.rules_version, head.rules_version, base.instants[0], base.instants[-1],
        len(base.instants), tuple(out), len(ids),
    )  # fmt: skip


def _changed_rows(base: Replay, head: Replay, magnitude: npt.NDArray[np.float64]) -> set[int]:
    if not len(base.instants):
        return set()
    moved = (magnitude > TOLERANCE).any(axis=0)
    one_sided = np.isnan(base.score) != np.isnan(head.score)
    graded = (base.grade != head.grade) | one_sided
    return set(np.flatnonzero(moved | graded.any(axis=0)).tolist())


def _transition_changes(
    base: Replay, head: Replay
) -> tuple[list[GradeTransition], list[GradeTransition]]:
    """(only under head, only under base), by instant then client row. Compared as integer keys
    (instant, row, grade before, grade after — grades by name, so a renamed grade counts), so that
    only the transitions that differ become objects: a window where most clients change grade
    somewhere holds tens of thousands of them."""
    names = sorted({*_names(base), *_names(head)}, key=str)
    base_keys, head_keys = _keys(base, names), _keys(head, names)
    return (
        _decoded(head, np.setdiff1d(head_keys, base_keys), names),
        _decoded(base, np.setdiff1d(base_keys, head_keys), names),
    )


def _names(replay: Replay) -> list[str | None]:
    return [replay.grade_name(code) for code in range(-2, len(replay.grade_names))]


def _keys(replay: Replay, names: list[str | None]) -> npt.NDArray[np.int64]:
    lut = np.array([names.index(name) for name in _names(replay)], dtype=np.int64)
    mapped = lut[replay.grade.astype(np.int64) + 2]  # codes start at -2
    steps, rows = np.nonzero(mapped[1:] != mapped[:-1])
    width, kinds = len(replay.clients), len(names)
    before, after = mapped[steps, rows], mapped[steps + 1, rows]
    return ((steps.astype(np.int64) * width + rows) * kinds + before) * kinds + after


def _decoded(
    replay: Replay, keys: npt.NDArray[np.int64], names: list[str | None]
) -> list[GradeTransition]:
    width, kinds = len(replay.clients), len(names)
    out = []
    for key in keys.tolist():  # ascending: by instant, then row
        rest, after = divmod(key, kinds)
        rest, before = divmod(rest, kinds)
        step, row = divmod(rest, width)
        moment = replay.instants[step + 1]
        out.append(GradeTransition(replay.clients.ids[row], moment, names[before], names[after]))
    return out


def _alerts(replay: Replay) -> set[AlertChange]:
    return {
        AlertChange(n.rule, n.client, n.at, n.severity) for n in replay.alerts if n.kind == "firing"
    }


def _set_difference(head: set[T], base: set[T]) -> tuple[list[T], list[T]]:
    """(only in head, only in base), each by instant then client."""

    def order(item: T) -> tuple[datetime, str, str]:
        return item.at, item.client, getattr(item, "rule", "")

    return sorted(head - base, key=order), sorted(base - head, key=order)


def _by_client(items: list[T]) -> dict[str, list[T]]:
    grouped: dict[str, list[T]] = {}
    for item in items:
        grouped.setdefault(item.client, []).append(item)
    return grouped


def _now(score: npt.NDArray[np.float64], row: int) -> float | None:
    value = float(score[-1, row]) if len(score) else float("nan")
    return None if np.isnan(value) else value


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOLERANCE


def _name(grade: str | None) -> str:
    return grade if grade is not None else "ungraded"


def _verb(n: int, verb: str) -> str:
    return f"{verb}s" if n == 1 else verb


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
