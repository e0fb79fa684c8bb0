"""What the service announces, and to whom: a small typed publish/subscribe.

After each evaluation the evaluator publishes one ``Evaluated`` on its ``Topic``; the history
writer and the ``/metrics`` page subscribe to it (and alerts will), instead of the evaluator
calling each by hand. Subscribers run in the publisher's thread, in subscription order, before
``publish`` returns; one that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

import numpy as np

from rapport.engine.result import Evaluation
from rapport.signals.model import Client

log = logging.getLogger("rapport.events")

E = TypeVar("E")


@dataclass(frozen=True)
class Evaluated:
    """One finished evaluation: the scores, the clients of its rows (row i is ``clients[i]``),
    each client's newest signal time per kind, and the instant it was scored as of."""

    evaluation: Evaluation
    clients: tuple[Client, ...]
    last_signals: Mapping[tuple[str, str], datetime]
    duration: float | None = None  # seconds the evaluation took, when the publisher measured it
    # Score change per span ("7d", "30d") per client, from the stored history (for /metrics).
    changes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @property
    def as_of(self) -> datetime:
        return self.evaluation.as_of


class EvaluationLog:
    """A subscriber that logs one INFO line per evaluation on ``rapport.evaluations``: how many
    clients, how long it took, the rules version and the grades that changed since the previous
    evaluation it saw (``acme watch→at_risk``; a client new to it is not a change), e.g.
    ``evaluated 60 clients in 41 ms, rules 2ac3970a4369; grades changed: acme watch→at_risk``."""

    #: Changed grades listed by name; more are counted (a log line stays one line).
    SHOWN = 10

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("rapport.evaluations")
        self._previous: Evaluation | None = None

    def __call__(self, event: Evaluated) -> None:
        evaluation = event.evaluation
        changed = [
            f"{client} {before or '-'}→{after or '-'}"
            for client, before, after in _grade_changes(self._previous, evaluation)
        ]
        self._previous = evaluation
        took = f" in {event.duration * 1000:.0f} ms" if event.duration is not None else ""
        if not changed:
            summary = "no grade changed"
        else:
            more = len(changed) - self.SHOWN
            summary = "grades changed: " + ", ".join(changed[: self.SHOWN])
            summary += f" and {more} more" if more > 0 else ""
        self._log.info(
            "evaluated %d clients%s, rules %s; %s",
            len(evaluation.clients),
            took,
            evaluation.rules_version,
            summary,
        )


def _grade_changes(
    before: Evaluation | None, now: Evaluation
) -> list[tuple[str, str | None, str | None]]:
    """``(client, grade before, grade now)`` of every client of both evaluations whose grade
    changed, in ``now``'s row order. The same clients in the same order — every evaluation of a
    steady book — are compared as arrays."""
    if before is None:
        return []
    names_before, names_now = (*before.grade_names, None), (*now.grade_names, None)
    if before.clients.ids == now.clients.ids and names_before == names_now:
        rows = np.flatnonzero(before.grade != now.grade).tolist()
        pairs = [(r, r) for r in rows]
    else:
        pairs = [
            (old, row)
            for row, client in enumerate(now.clients.ids)
            if (old := before.clients.rows.get(client)) is not None
        ]
    ids = now.clients.ids
    changes = [
        (ids[row], names_before[before.grade[old]], names_now[now.grade[row]]) for old, row in pairs
    ]
    return [change for change in changes if change[1] != change[2]]


class Topic(Generic[E]):
    """The subscribers of one kind of event, called with every event published."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Callable[[E], None]] = []

    def subscribe(self, subscriber: Callable[[E], None]) -> None:
        """Call ``subscriber(event)`` for every event published from now on."""
        self._subscribers.append(subscriber)

    def publish(self, event: E) -> int:
        """Deliver ``event`` to every subscriber; returns how many of them failed (each failure
        is logged with its traceback and does not keep the event from the rest)."""
        failed = 0
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                failed += 1
                log.exception("a subscriber of %s failed: %r", self.name, subscriber)
        return failed
