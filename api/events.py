"""What the service announces, and to whom: a small typed publish/subscribe.

After each evaluation the evaluator publishes one ``Evaluated`` on its ``Topic``; the history
writer and the ``/metrics`` page subscribe to it (and alerts will), instead of the evaluator
calling each by hand. Subscribers run in the publisher's thread, in subscription order, before
``publish`` returns; one that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

    @property
    def as_of(self) -> datetime:
        return self.evaluation.as_of


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
