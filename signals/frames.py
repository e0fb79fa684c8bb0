"""Turn signal rows into the scorer's columnar ``SignalSet``.

The store has its own fast path from database columns; this builder serves everything that holds
signals as ``StoredSignal`` objects in memory (rule tests, the demo, benchmarks' slices).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np

from rapport.engine.frame import BoolArray, Categorical, ClientSet, KindFrame, SignalSet
from rapport.signals.model import StoredSignal


def epoch(moment: datetime | None) -> float:
    """UTC epoch seconds; NaN for None (an open milestone or incident)."""
    return float("nan") if moment is None else moment.timestamp()


#: One in-memory row: client row, ts, end, value, attrs, recorded_at (NaN: none).
FrameRow = tuple[int, float, float, float, Mapping[str, str], float]


def build_kind_frame(rows: Iterable[FrameRow]) -> KindFrame:
    """Rows of ``(client_row, ts, end, value, attrs, recorded)`` → one ``KindFrame``; its
    ``recorded`` column is None when no row has a record time."""
    clients: list[int] = []
    ts: list[float] = []
    ends: list[float] = []
    values: list[float] = []
    attr_rows: list[Mapping[str, str]] = []
    recorded: list[float] = []
    for client_row, t, end, value, attrs, known in rows:
        clients.append(client_row)
        ts.append(t)
        ends.append(end)
        values.append(value)
        attr_rows.append(attrs)
        recorded.append(known)
    record_times = np.asarray(recorded, dtype=np.float64)
    names = sorted({name for attrs in attr_rows for name in attrs})
    return KindFrame(
        client=np.asarray(clients, dtype=np.int32),
        ts=np.asarray(ts, dtype=np.float64),
        end=np.asarray(ends, dtype=np.float64),
        value=np.asarray(values, dtype=np.float64),
        attrs={name: Categorical.from_values(a.get(name) for a in attr_rows) for name in names},
        recorded=None if np.isnan(record_times).all() else record_times,
    )


def build_signal_set(
    clients: ClientSet,
    signals: Iterable[StoredSignal],
    stale: Mapping[str, Iterable[str]] | None = None,
    covered: Mapping[str, Iterable[str]] | None = None,
) -> SignalSet:
    """Group ``signals`` by kind into arrays indexed by ``clients``' rows.

    Signals of clients not in ``clients`` are left out (the caller decides whom to score). A
    signal's ``recorded_at`` (None: known from its ``ts``) limits what an evaluation as of a past
    instant sees, as it does for the store's signals.
    ``stale`` maps a kind to the client ids whose source for that kind is stale, ``covered`` to
    those a fresh collector of the kind maps (``SignalSet.covered``).
    """
    row_of = clients.rows
    by_kind: dict[str, list[FrameRow]] = defaultdict(list)
    for s in signals:
        row = row_of.get(s.client)
        if row is None:
            continue
        value = float("nan") if s.value is None else s.value
        by_kind[s.kind].append(
            (row, epoch(s.ts), epoch(s.end), value, s.attrs, epoch(s.recorded_at))
        )
    frames = {kind: build_kind_frame(rows) for kind, rows in by_kind.items()}
    masks = build_stale_masks(clients, stale)
    return SignalSet(frames, masks, build_stale_masks(clients, covered))


def build_stale_masks(
    clients: ClientSet, stale: Mapping[str, Iterable[str]] | None
) -> dict[str, BoolArray]:
    """``{kind: client ids}`` → ``{kind: mask over clients' rows}``; unknown ids are ignored."""
    row_of = clients.rows
    masks = {}
    for kind, ids in (stale or {}).items():
        mask = np.zeros(len(clients), dtype=np.bool_)
        mask[[row_of[c] for c in ids if c in row_of]] = True
        masks[kind] = mask
    return masks
