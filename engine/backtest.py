"""Scores as they were known at many past instants: what ``rapport validate`` compares with
outcomes.

A query is one (client row, instant) pair — each client at instants of its own (an outcome's
date minus a horizon), where ``engine.replay`` scores every client at each step of one window.
``score_queries`` answers thousands at once with one run of
the scorer (``engine.scoring.evaluate``) per batch, by moving each query's clock rather than the
scorer's: every query becomes a row of its own whose signals are its client's, shifted in time by
``A - at`` (``A`` one reference instant for the batch), and the batch is evaluated as of ``A``.
Everything the scorer computes is relative to its instant — windows, ages, lateness, carries,
visibility (``ts`` and ``recorded_at`` against the instant), trends (slopes do not move with a
shift) — so row ``i`` as of ``A`` is the client as of ``at[i]``, with what was known then.
Instants and signal times are whole seconds, so the shifts are exact in float64; only a trend's
least-squares sums may differ in the last bits. A test holds ``score_queries`` equal to
``evaluate`` as of each instant.

Only events visible at a query's instant are gathered (the scorer would not see the others), and
batches are bounded by how many events they gather, so memory stays flat however many queries.
No source is stale in a replay unless ``signals`` says so: collectors' past freshness is not
recorded. Pure: numpy and the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from rapport.engine.frame import BoolArray, ClientSet, FloatArray, IntArray, KindFrame, SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.scoring import evaluate

IndexArray = npt.NDArray[np.intp]

#: Events gathered per batch at most (a batch holds at least one query).
BATCH_EVENTS = 2_000_000


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

    def events_per(self, rows: IndexArray) -> npt.NDArray[np.intp]:
        """Per entry of ``rows``, how many events (all kinds) that client has."""
        total = np.zeros(len(rows), dtype=np.intp)
        for starts in self._starts.values():
            total += starts[rows + 1] - starts[rows]
        return total

    def shifted(self, rows: IndexArray, at: FloatArray, reference: float) -> SignalSet:
        """Query ``k`` (client ``rows[k]`` as of ``at[k]``) as row ``k``: its client's events
        visible at ``at[k]``, every time moved by ``reference - at[k]``."""
        kinds: dict[str, KindFrame] = {}
        for kind, frame in self.signals.kinds.items():
            starts = self._starts[kind]
            lengths = starts[rows + 1] - starts[rows]
            index = self._order[kind][_ranges(starts[rows], starts[rows + 1])]
            query = np.repeat(np.arange(len(rows), dtype=np.int32), lengths)
            seen = frame.known_from[index] <= at[query]  # the scorer's rule; NaN is never seen
            index, query = index[seen], query[seen]
            shift = reference - at[query]
            taken = frame.take(index)
            kinds[kind] = KindFrame(
                query,
                taken.ts + shift,
                taken.end + shift,
                taken.value,
                taken.attrs,
                None if taken.recorded is None else taken.recorded + shift,
            )
        stale = {k: np.asarray(v)[rows] for k, v in self.signals.stale.items()}
        covered = {k: np.asarray(v)[rows] for k, v in self.signals.covered.items()}
        return SignalSet(kinds, stale, covered)


def _batches(index: ClientIndex, rows: IndexArray) -> list[IndexArray]:
    """Consecutive slices of the queries, each gathering at most ``BATCH_EVENTS`` events."""
    if len(rows) == 0:
        return []
    cumulative = np.cumsum(index.events_per(rows))
    cuts = np.searchsorted(cumulative, np.arange(BATCH_EVENTS, cumulative[-1], BATCH_EVENTS))
    edges = np.unique(np.concatenate(([0], cuts, [len(rows)]))).astype(np.intp)
    return [np.arange(a, b) for a, b in pairwise(edges.tolist()) if b > a]


def _ranges(starts: IndexArray, stops: IndexArray) -> IndexArray:
    """The concatenation of ``arange(start, stop)`` for each pair, without a Python loop."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.intp)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return (np.arange(total) + offsets).astype(np.intp)


def score_queries(
    scorecard: Scorecard,
    clients: ClientSet,
    signals: SignalSet,
    client_rows: npt.ArrayLike,
    at: npt.ArrayLike,
    *,
    rules_version: str = "replay",
) -> Replayed:
    """The score of each ``client_rows[i]`` as known at ``at[i]`` (epoch seconds, whole).

    ``scorecard`` must be validated. Equal to ``evaluate`` as of each instant, row by row.
    """
    rows = np.asarray(client_rows, dtype=np.intp)
    instants = np.asarray(at, dtype=np.float64)
    if rows.shape != instants.shape or rows.ndim != 1:
        raise ValueError("client_rows and at must be one-dimensional and of equal length")
    if np.any(instants != np.floor(instants)):
        raise ValueError("replay instants must be whole epoch seconds (floor t - H)")
    out = _Columns.empty(len(rows), len(scorecard.components))
    index = ClientIndex(signals, len(clients))
    for batch in _batches(index, rows):
        at = instants[batch]
        reference = float(at.max())
        wanted = rows[batch]
        queries = ClientSet(
            tuple(clients.ids[r] for r in wanted.tolist()),
            tuple(clients.segments[r] for r in wanted.tolist()),
        )
        moment = datetime.fromtimestamp(reference, UTC)
        shifted = index.shifted(wanted, at, reference)
        evaluation = evaluate(scorecard, queries, shifted, moment, rules_version)
        out.score[batch] = evaluation.score
        out.provisional[batch] = evaluation.provisional
        out.grade[batch] = evaluation.grade
        out.insufficient[batch] = evaluation.insufficient
        out.coverage[batch] = evaluation.coverage
        out.points[batch] = evaluation.points
        out.weight[batch] = evaluation.weight
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
