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
        self._grades: dict[str, str | None] = {}

    def __call__(self, event: Evaluated) -> None:
        evaluation = event.evaluation
        grades = {
            client: evaluation.grade_names[g] if g >= 0 else None
            for client, g in zip(evaluation.clients.ids, evaluation.grade.tolist(), strict=True)
        }
        changed = [
            f"{client} {self._grades[client] or '-'}→{grade or '-'}"
            for client, grade in grades.items()
            if client in self._grades and self._grades[client] != grade
        ]
        self._grades = grades
        took = f" in {event.duration * 1000:.0f} ms" if event.duration is not None else ""
        if not changed:
            summary = "no grade changed"
        else:
            more = len(changed) - self.SHOWN
            summary = "grades changed: " + ", ".join(changed[: self.SHOWN])
            summary += f" and {more} more" if more > 0 else ""
        self._log.info(
            "evaluated %d clients%s, rules %s; %s",
            len(grades),
            took,
            evaluation.rules_version,
            summary,
        )


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
