"""The store's fast path from signal rows to the scorer's ``SignalSet``.

``signals.frames.build_signal_set`` does the same from ``StoredSignal`` objects; this module works
on raw database rows ``(kind, client, ts, end_ts, value, attrs_json, recorded_at)`` fetched in
chunks, because a million rows must load in about two seconds: strings are turned into integer
codes through dicts (kinds, clients and attrs JSON repeat heavily), every JSON text is parsed once,
and grouping and ordering happen in numpy rather than in SQL (an ORDER BY doubles SQLite's time).

Rows within each kind come out ordered by (client row, ts), ties in their fetch order; attribute
categories are in order of first appearance, as ``Categorical.from_values`` orders them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from rapport.engine.frame import Categorical, ClientSet, IntArray, KindFrame, SignalSet
from rapport.signals.frames import build_stale_masks

#: One database row: kind, client id, ts, end_ts (None while open), value (None), attrs JSON text,
#: recorded_at.
SignalRow = tuple[str, str, float, float | None, float | None, str, float]


@dataclass(frozen=True)
class Encoded:
    """A dictionary-encoded text column: ``values[codes[i]]`` is row ``i``'s text."""

    codes: npt.NDArray[np.intp]
    values: Sequence[str]


@dataclass(frozen=True)
class Columns:
    """A builder's rows as columns: client rows, kinds and attrs JSON texts encoded, and the four
    float columns (ts, end_ts, value, recorded_at; NaN for NULL) as one [4, rows] array."""

    rows: IntArray
    kinds: Encoded
    attrs: Encoded
    times: npt.NDArray[np.float64]


class SignalSetBuilder:
    """Accumulates chunks of ``SignalRow``s for ``clients``, then builds one ``SignalSet``.

    Rows of clients not in ``clients`` are dropped as they arrive (they are not scored).
    """

    def __init__(self, clients: ClientSet) -> None:
        self._clients = clients
        self._row_of = clients.rows
        self._kind_codes: dict[str, int] = {}
        self._attrs_codes: dict[str, int] = {}
        self._parts: list[tuple[IntArray, IntArray, IntArray, npt.NDArray[np.float64]]] = []

    def add(self, chunk: Sequence[SignalRow] | Sequence[Sequence[Any]]) -> None:
        """Take one chunk of rows (any length, possibly empty)."""
        if not chunk:
            return
        kinds, client_ids, ts, ends, values, attrs, recorded = zip(*chunk, strict=True)
        rows = _codes(client_ids, self._row_of)
        keep = rows >= 0
        if not keep.any():
            return
        # Four float columns in one array: NaN stands for NULL (np.array turns None into NaN).
        times = np.array((ts, ends, values, recorded), dtype=np.float64)
        self._parts.append(
            (
                rows[keep],
                _grown_codes(kinds, self._kind_codes)[keep],
                _grown_codes(attrs, self._attrs_codes)[keep],
                times[:, keep],
            )
        )

    def add_encoded(
        self,
        kinds: Encoded,
        clients: Encoded,
        attrs: Encoded,
        times: npt.NDArray[np.float64],
    ) -> None:
        """Take rows given as columns: each text column dictionary-encoded (``Encoded``: a code
        per row into its distinct values, those in order of first appearance, as
        ``pyarrow.compute.dictionary_encode`` makes them) and ``times`` the four float columns
        ts, end_ts, value, recorded_at as one [4, rows] array, NaN for NULL. The same rows as
        ``add`` would take, without a Python object per value."""
        row_lut = _codes(clients.values, self._row_of)
        rows = row_lut[clients.codes] if len(row_lut) else np.empty(0, dtype=np.int32)
        keep = rows >= 0
        if not keep.any():
            return
        self.add_columns(
            Columns(
                rows[keep],
                Encoded(kinds.codes[keep], kinds.values),
                Encoded(attrs.codes[keep], attrs.values),
                np.ascontiguousarray(times[:, keep], dtype=np.float64),
            )
        )

    def columns(self) -> Columns:
        """Everything added so far as columns, to be added to another builder of the same
        clients (``add_columns``): a load read in parts by separate processes."""
        if not self._parts:
            empty = Encoded(np.empty(0, dtype=np.intp), ())
            return Columns(np.empty(0, dtype=np.int32), empty, empty, np.empty((4, 0)))
        return Columns(
            np.concatenate([p[0] for p in self._parts]),
            Encoded(np.concatenate([p[1] for p in self._parts]), tuple(self._kind_codes)),
            Encoded(np.concatenate([p[2] for p in self._parts]), tuple(self._attrs_codes)),
            np.concatenate([p[3] for p in self._parts], axis=1),
        )

    def add_columns(self, columns: Columns) -> None:
        """Take what ``columns`` (another builder's, for the same clients) holds."""
        if not len(columns.rows):
            return
        self._parts.append(
            (
                columns.rows,
                _grown_codes(columns.kinds.values, self._kind_codes)[columns.kinds.codes],
                _grown_codes(columns.attrs.values, self._attrs_codes)[columns.attrs.codes],
                columns.times,
            )
        )

    def build(
        self,
        stale: Mapping[str, Iterable[str]] | None = None,
        covered: Mapping[str, Iterable[str]] | None = None,
    ) -> SignalSet:
        """The ``SignalSet`` of everything added; ``stale`` and ``covered`` as in
        ``build_signal_set``."""
        masks = build_stale_masks(self._clients, stale)
        reach = build_stale_masks(self._clients, covered)
        if not self._parts:
            return SignalSet({}, masks, reach)
        rows = np.concatenate([p[0] for p in self._parts])
        kinds = np.concatenate([p[1] for p in self._parts])
        attrs = np.concatenate([p[2] for p in self._parts])
        times = np.concatenate([p[3] for p in self._parts], axis=1)
        # Sort by ts, then stably by (kind, client row): two argsorts beat one np.lexsort by ~30%.
        by_ts = np.argsort(times[0], kind="stable")
        group = kinds.astype(np.int64) * len(self._clients) + rows
        order = by_ts[np.argsort(group[by_ts], kind="stable")]
        rows, kinds, attrs, times = rows[order], kinds[order], attrs[order], times[:, order]
        texts = list(self._attrs_codes)  # code -> JSON text: dicts keep insertion order
        frames: dict[str, KindFrame] = {}
        for kind, code in sorted(self._kind_codes.items()):
            start, stop = np.searchsorted(kinds, [code, code + 1])
            if start == stop:
                continue
            part = slice(int(start), int(stop))
            frames[kind] = KindFrame(
                client=rows[part],
                ts=times[0, part],
                end=times[1, part],
                value=times[2, part],
                attrs=_categoricals(attrs[part], texts),
                recorded=times[3, part],
            )
        return SignalSet(frames, masks, reach)


def _codes(values: Sequence[str], index: Mapping[str, int]) -> IntArray:
    """Integer code of every value via ``index``; -1 for values it does not hold."""
    return np.fromiter(map(index.get, values, repeat(-1)), dtype=np.int32, count=len(values))


def _grown_codes(values: Sequence[str], index: dict[str, int]) -> IntArray:
    """``_codes``, giving values ``index`` has not seen the next codes first."""
    for value in dict.fromkeys(values):  # unique values in order, at C speed
        if value not in index:
            index[value] = len(index)
    return _codes(values, index)


def _categoricals(attrs: IntArray, texts: Sequence[str]) -> dict[str, Categorical]:
    """One ``Categorical`` per attribute name over rows whose attrs JSON codes are ``attrs``.

    Each distinct JSON text is parsed once; categories follow first appearance in row order.
    """
    distinct, first, inverse = np.unique(attrs, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first, kind="stable")
    categories: dict[str, dict[str, int]] = {}
    luts: dict[str, IntArray] = {}
    for position in by_appearance:
        parsed: dict[str, str] = json.loads(texts[int(distinct[position])])
        for name, value in parsed.items():
            if name not in luts:
                luts[name] = np.full(len(distinct), -1, dtype=np.int32)
                categories[name] = {}
            luts[name][position] = categories[name].setdefault(value, len(categories[name]))
    return {
        name: Categorical(luts[name][inverse], tuple(categories[name])) for name in sorted(luts)
    }
