"""The score history's writer: a subscriber of ``Evaluated`` that stores only what is new.

Every evaluation used to append a row per client (96 a day at the 15-minute interval). The
writer keeps, per client, the last record it wrote and writes a client's row only when something
a history reader could see changed — its score, grade, coverage, provisional score, a component's
value, points, weight or status, an applied limit, or the rules version (numbers compared within
``epsilon``) — or when its last row is from an earlier UTC day: so every client has at least one
row per day it was scored, and "the score as of T" (the newest row at or before T) reads the same
values as it did when every evaluation was stored. A component's note (e.g. how old a carried
value is) is explanation text, not a change.

The writer's memory starts empty, so the first evaluation after a start writes every client. Once
a UTC day it deletes rows older than ``retention`` (``Store.prune_history``: each client's newest
row before the cutoff stays, so the score as of the cutoff remains answerable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from rapport.api.events import Evaluated
from rapport.engine.frame import BoolArray, FloatArray
from rapport.engine.result import Evaluation
from rapport.signals.store import Store

log = logging.getLogger("rapport.history")

#: Scores and component numbers closer than this are the same for the history.
DEFAULT_EPSILON = 1e-6
_DAY = 86400.0


@dataclass(frozen=True)
class _Written:
    """What was last written per client, rows aligned with ``ids``."""

    ids: tuple[str, ...]
    rules_version: str
    component_ids: tuple[str, ...]
    limit_ids: tuple[str, ...]
    day: npt.NDArray[np.int64]  # UTC day number of the row's as_of
    numbers: FloatArray  # [clients, k]: score, provisional, coverage, raw…, points…, weight…
    codes: npt.NDArray[np.int64]  # [clients, k]: grade, insufficient, status…, limit applied…


def _numbers(e: Evaluation) -> FloatArray:
    columns = (e.score[:, None], e.provisional[:, None], e.coverage[:, None], e.raw, e.points)
    return np.hstack((*columns, e.weight)).astype(np.float64)


def _codes(e: Evaluation) -> npt.NDArray[np.int64]:
    columns = (e.grade[:, None], e.insufficient[:, None], e.status, e.limit_applied)
    return np.hstack(columns).astype(np.int64)


def _day(e: Evaluation) -> int:
    return int(e.as_of.timestamp() // _DAY)


def changed_rows(previous: _Written | None, e: Evaluation, epsilon: float) -> BoolArray:
    """Per row of ``e``, whether its record differs from what ``previous`` wrote for that client
    (a client ``previous`` never wrote, another rules version or an earlier day: it does)."""
    n = len(e.clients)
    if (
        previous is None
        or not previous.ids
        or previous.rules_version != e.rules_version
        or previous.component_ids != e.component_ids
        or previous.limit_ids != e.limit_ids
    ):
        return np.ones(n, dtype=np.bool_)
    index = _positions(previous.ids, e.clients.ids)
    known = index >= 0
    at = np.where(known, index, 0)
    before, now = previous.numbers[at], _numbers(e)
    same_numbers = (np.abs(before - now) <= epsilon) | (np.isnan(before) & np.isnan(now))
    same = (
        known
        & (previous.day[at] == _day(e))
        & same_numbers.all(axis=1)
        & (previous.codes[at] == _codes(e)).all(axis=1)
    )
    changed: BoolArray = ~same
    return changed


def _positions(before: tuple[str, ...], now: tuple[str, ...]) -> npt.NDArray[np.intp]:
    """The row in ``before`` of each client of ``now`` (-1: not there). The same clients in the
    same order — every evaluation of a steady book — need no lookups."""
    if before == now:
        return np.arange(len(now), dtype=np.intp)
    position = {cid: i for i, cid in enumerate(before)}
    return np.fromiter((position.get(c, -1) for c in now), dtype=np.intp, count=len(now))


class HistoryWriter:
    """The ``Evaluated`` subscriber storing each evaluation's changed rows (see the module doc).

    ``retention`` (None: keep everything) is how long rows are kept; ``epsilon`` how far apart
    two numbers must be to count as a change.
    """

    def __init__(
        self,
        store: Store,
        *,
        retention: float | None = None,
        epsilon: float = DEFAULT_EPSILON,
    ) -> None:
        self._store = store
        self._retention = retention
        self._epsilon = epsilon
        self._written: _Written | None = None
        self._pruned_day: int | None = None
        self.rows_written = 0  # since start, for benchmarks and logs

    def __call__(self, event: Evaluated) -> None:
        e = event.evaluation
        changed = changed_rows(self._written, e, self._epsilon)
        rows = np.flatnonzero(changed)
        if len(rows):
            self.rows_written += self._store.save_evaluation(e, rows=rows)
        self._remember(e, changed)
        self._prune(e)

    def _remember(self, e: Evaluation, changed: BoolArray) -> None:
        """What is now the newest row of every client of ``e``: its new record where written,
        else the one written before (unchanged within epsilon)."""
        numbers, codes = _numbers(e), _codes(e)
        day = np.full(len(e.clients), _day(e), dtype=np.int64)
        previous = self._written
        if previous is not None and not changed.all():
            kept = np.flatnonzero(~changed)
            old = _positions(previous.ids, e.clients.ids)[kept]
            numbers[kept], codes[kept], day[kept] = (
                previous.numbers[old],
                previous.codes[old],
                previous.day[old],
            )
        self._written = _Written(
            e.clients.ids, e.rules_version, e.component_ids, e.limit_ids, day, numbers, codes
        )

    def _prune(self, e: Evaluation) -> None:
        today = _day(e)
        if self._retention is None or self._pruned_day == today:
            return
        self._pruned_day = today
        removed = self._store.prune_history(e.as_of - timedelta(seconds=self._retention))
        if removed:
            log.info("history: removed %d rows older than the retention", removed)
