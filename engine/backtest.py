"""Scores as they were known at many past instants: what ``rapport validate`` compares with
outcomes.

A query is one (client row, instant) pair. ``replay`` groups the queries by instant and runs the
scorer (``engine.scoring.evaluate``) once per distinct instant, over only the clients asked about
at it and only their signals (gathered through a per-client index built once), so ten thousand
queries spread over two years cost ten thousand small evaluations, not ten thousand evaluations of
the whole book. Each evaluation applies the scorer's own visibility rule (``KindFrame``): a signal
dated or recorded after the instant is not seen, so the score of a query is exactly the score the
service would have computed then, with what it knew then.

Instants are whole epoch seconds: a caller floors ``t - H`` (never later than it, so nothing
after it leaks in), and the round trip through ``datetime`` is exact. No source is stale in a
replay: collectors' past freshness is not recorded, so ``stale`` and ``covered`` are read as given.
Pure: numpy and the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from rapport.engine.frame import BoolArray, ClientSet, FloatArray, IntArray, KindFrame, SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.scoring import evaluate

IndexArray = npt.NDArray[np.intp]

#: Above this share of the book asked about at one instant, scoring everyone is cheaper than
#: gathering their signals.
_WHOLE_BOOK_SHARE = 0.25


@dataclass(frozen=True)
class Replayed:
    """Per query (in the order asked): the client row and instant, and what the scorer said then.

    ``score`` is NaN where the client had no score (no data, or coverage below ``min_coverage``:
    ``insufficient``), ``grade`` an index into ``grade_names`` (-1: ungraded); ``provisional`` the
    score before the coverage check; ``points`` and ``weight`` are ``[queries, components]``
    (columns: ``component_ids``) as in ``Evaluation``.
    """

    client: IntArray
    at: FloatArray
    score: FloatArray
    provisional: FloatArray
    grade: npt.NDArray[np.int16]
    insufficient: BoolArray
    coverage: FloatArray
    points: FloatArray
    weight: FloatArray
    component_ids: tuple[str, ...]
    grade_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.client)


class ClientIndex:
    """Each kind's rows grouped by client, built once: the signals of a few clients are then a
    gather, not a scan of every event."""

    def __init__(self, signals: SignalSet, n_clients: int) -> None:
        self.signals = signals
        self.n_clients = n_clients
        self._order: dict[str, IndexArray] = {}
        self._starts: dict[str, IndexArray] = {}
        for kind, frame in signals.kinds.items():
            order = np.argsort(frame.client, kind="stable")
            counts = np.bincount(frame.client, minlength=n_clients)
            self._order[kind] = order
            self._starts[kind] = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)

    def subset(self, rows: IndexArray) -> SignalSet:
        """The signals of client ``rows`` (distinct), renumbered 0..len(rows)-1 in that order."""
        position = np.full(self.n_clients, -1, dtype=np.int32)
        position[rows] = np.arange(len(rows), dtype=np.int32)
        kinds: dict[str, KindFrame] = {}
        for kind, frame in self.signals.kinds.items():
            starts = self._starts[kind]
            taken = frame.take(self._order[kind][_ranges(starts[rows], starts[rows + 1])])
            kinds[kind] = KindFrame(
                position[taken.client],
                taken.ts,
                taken.end,
                taken.value,
                taken.attrs,
                taken.recorded,
            )
        stale = {k: np.asarray(v)[rows] for k, v in self.signals.stale.items()}
        covered = {k: np.asarray(v)[rows] for k, v in self.signals.covered.items()}
        return SignalSet(kinds, stale, covered)


def _ranges(starts: IndexArray, stops: IndexArray) -> IndexArray:
    """The concatenation of ``arange(start, stop)`` for each pair, without a Python loop."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.intp)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return (np.arange(total) + offsets).astype(np.intp)


def replay(
    scorecard: Scorecard,
    clients: ClientSet,
    signals: SignalSet,
    client_rows: npt.ArrayLike,
    at: npt.ArrayLike,
    *,
    rules_version: str = "replay",
) -> Replayed:
    """The score of each ``client_rows[i]`` as known at ``at[i]`` (epoch seconds, whole).

    ``scorecard`` must be validated. Equal to ``evaluate`` as of each instant, row by row (a test
    holds the two equal); only the grouping differs.
    """
    rows = np.asarray(client_rows, dtype=np.intp)
    instants = np.asarray(at, dtype=np.float64)
    if rows.shape != instants.shape or rows.ndim != 1:
        raise ValueError("client_rows and at must be one-dimensional and of equal length")
    if np.any(instants != np.floor(instants)):
        raise ValueError("replay instants must be whole epoch seconds (floor t - H)")
    n, width = len(rows), len(scorecard.components)
    out = _Columns.empty(n, width)
    index = ClientIndex(signals, len(clients))
    distinct, group = np.unique(instants, return_inverse=True)
    by_group = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[by_group], np.arange(len(distinct) + 1))
    for k, instant in enumerate(distinct.tolist()):
        queries = by_group[bounds[k] : bounds[k + 1]]
        wanted, slot = np.unique(rows[queries], return_inverse=True)
        moment = datetime.fromtimestamp(instant, UTC)
        if len(wanted) > _WHOLE_BOOK_SHARE * len(clients):
            evaluation = evaluate(scorecard, clients, signals, moment, rules_version)
            picked = wanted[slot]
        else:
            subset = ClientSet(
                tuple(clients.ids[r] for r in wanted), tuple(clients.segments[r] for r in wanted)
            )
            evaluation = evaluate(scorecard, subset, index.subset(wanted), moment, rules_version)
            picked = slot
        out.score[queries] = evaluation.score[picked]
        out.provisional[queries] = evaluation.provisional[picked]
        out.grade[queries] = evaluation.grade[picked]
        out.insufficient[queries] = evaluation.insufficient[picked]
        out.coverage[queries] = evaluation.coverage[picked]
        out.points[queries] = evaluation.points[picked]
        out.weight[queries] = evaluation.weight[picked]
    return Replayed(
        client=rows.astype(np.int32),
        at=instants,
        score=out.score,
        provisional=out.provisional,
        grade=out.grade,
        insufficient=out.insufficient,
        coverage=out.coverage,
        points=out.points,
        weight=out.weight,
        component_ids=tuple(scorecard.components),
        grade_names=tuple(g.name for g in scorecard.grades),
    )


@dataclass
class _Columns:
    score: FloatArray
    provisional: FloatArray
    grade: npt.NDArray[np.int16]
    insufficient: BoolArray
    coverage: FloatArray
    points: FloatArray
    weight: FloatArray

    @classmethod
    def empty(cls, n: int, width: int) -> _Columns:
        return cls(
            np.full(n, np.nan),
            np.full(n, np.nan),
            np.full(n, -1, dtype=np.int16),
            np.zeros(n, dtype=np.bool_),
            np.full(n, np.nan),
            np.full((n, width), np.nan),
            np.zeros((n, width)),
        )
