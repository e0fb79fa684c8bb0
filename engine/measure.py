"""Measurements for every client at once: the numbers components score and conditions compare.

A ``Measurer`` evaluates ``Measurement``s over a ``SignalSet`` as of one instant (or one instant per
client, to carry a value from each client's last signal, with what was recorded by the evaluation
instant). It keeps one ``EventView`` per (kind,
window) and one result per distinct measurement, so components, segment variants and conditions
that read the same thing compute it once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rapport.engine import aggregates as agg
from rapport.engine import notes
from rapport.engine.aggregate_table import Aggregate, Batch, aggregate_named
from rapport.engine.errors import ScoringError
from rapport.engine.fields import EventView, Instant
from rapport.engine.frame import BoolArray, FloatArray, SignalSet
from rapport.engine.model import Measurement


@dataclass(frozen=True)
class Measured:
    """One measurement for every client: ``value`` is NaN where missing.

    ``count`` is how many events the aggregate ran over (for ``nps``, the NPS-scale surveys), and
    ``needed`` how many it needs; ``flat`` marks clients whose trend had enough events, all at one
    instant; ``unknown`` marks clients of a ``count`` or ``sum`` with no events and no source
    known to cover them. Together they say why a value is missing.
    """

    value: FloatArray
    count: agg.CountArray
    needed: int
    window: float | None
    flat: BoolArray | None = None
    kind: str = ""
    unknown: BoolArray | None = None

    def reason(self, row: int) -> str:
        """Why client ``row`` has no value (only meaningful where ``value`` is NaN)."""
        if self.flat is not None and self.flat[row]:
            return notes.flat_trend()
        if self.unknown is not None and self.unknown[row]:
            return notes.no_source(self.kind, self.window)
        return notes.no_data(int(self.count[row]), self.needed, self.window)


def aggregate_of(m: Measurement) -> Aggregate:
    """The table entry of ``m``'s aggregate; a name validation would refuse is a ScoringError."""
    found = aggregate_named(m.aggregate)
    if found is None:
        raise ScoringError(f"aggregate {m.aggregate!r}", "it is not a known aggregate")
    return found


def measurement_key(m: Measurement) -> str:
    """Identity of what a measurement computes (a component's curve and weight are no part)."""
    measure = m.measure if isinstance(m.measure, str) else m.measure.model_dump(by_alias=True)
    fields = [m.signal, m.where, measure, m.aggregate, m.window, m.numerator, m.min_count]
    return json.dumps(fields, sort_keys=True, default=str)


class Measurer:
    """Evaluates measurements over ``signals`` as of ``at``: one instant, or one per client (NaN =
    that client sees no events), seeing only events recorded by ``known_by`` (default ``at``,
    which must then be one instant)."""

    def __init__(
        self,
        signals: SignalSet,
        n_clients: int,
        at: Instant,
        grouped: dict[str, bool] | None = None,
        *,
        known_by: float | None = None,
    ) -> None:
        self.signals = signals
        self.n_clients = n_clients
        self.at = at
        if known_by is None:
            if not isinstance(at, float):
                raise ValueError("one instant per client needs the instant they are known by")
            known_by = at
        self.known_by = known_by
        self._views: dict[tuple[str, float | None], EventView] = {}
        self._measured: dict[str, Measured] = {}
        self._known: dict[str, BoolArray] = {}
        # Per kind, clients a measurement has counted visible events of: known (see ``known``)
        # without a look at the kind's events.
        self._counted: dict[str, BoolArray] = {}
        self._grouped = {} if grouped is None else grouped  # per kind, shared with children

    def as_of_each(self, at: FloatArray) -> Measurer:
        """A measurer over the same signals as of one instant per client (NaN: not measured),
        seeing what this one sees recorded (the same ``known_by``)."""
        return Measurer(self.signals, self.n_clients, at, self._grouped, known_by=self.known_by)

    def view(self, kind: str, window: float | None) -> EventView:
        """The events of ``kind`` seen in ``window`` (None: all history), built once and shared."""
        key = (kind, window)
        if key not in self._views:
            frame = self.signals.frame(kind)
            # only the per-client path uses it
            grouped = False if isinstance(self.at, float) else self.grouped(kind)
            self._views[key] = EventView.visible(
                kind, frame, window, self.at, known_by=self.known_by, grouped=grouped
            )
        return self._views[key]

    def grouped(self, kind: str) -> bool:
        """Whether the rows of ``kind`` are sorted by client (``KindFrame.grouped``)."""
        if kind not in self._grouped:
            self._grouped[kind] = self.signals.frame(kind).grouped
        return self._grouped[kind]

    def measure(self, m: Measurement) -> Measured:
        """``m`` for every client; the result is shared, so callers must not modify its arrays."""
        key = measurement_key(m)
        if key not in self._measured:
            self._measured[key] = self._measure(m)
        return self._measured[key]

    def last_seen(self, m: Measurement) -> FloatArray:
        """Per client, the ``ts`` of its latest visible event of ``m``'s kind matching its ``where``
        (whatever the window) with a measure — NaN for a client without one."""
        view = self.view(m.signal, None)
        keep = _events(view, m, None if aggregate_of(m).counts else view.measure(m.measure))
        pick, index = _picker(keep)
        newest = np.full(self.n_clients, -np.inf)
        np.maximum.at(newest, view.clients(index), pick(view.column("ts")))
        return np.where(np.isfinite(newest), newest, np.nan)

    def _measure(self, m: Measurement) -> Measured:
        aggregate = aggregate_of(m)
        if aggregate.kinds is not None and m.signal not in aggregate.kinds:
            kinds = " or ".join(aggregate.kinds)
            why = f"{m.aggregate} is an aggregate of {kinds} signals"
            raise ScoringError(f"signal {m.signal!r}", why)
        view, values, keep = self.matching(m)
        pick, index = _picker(keep)
        groups = view.clients(index)
        count = np.bincount(groups, minlength=self.n_clients)
        batch = Batch(m.aggregate, view, pick, groups, count, values, m.numerator)
        value, flat = aggregate.reduce(batch)
        needed = aggregate.needed(m.min_count)
        if flat is not None:
            flat = (count >= needed) & flat
        unknown = None
        counted = self._counted.get(m.signal)
        self._counted[m.signal] = count > 0 if counted is None else counted | (count > 0)
        if aggregate.zero_when_empty:
            empty = count == 0
            # who is known matters only for clients without events: usually there are none
            unknown = self._unknown(m.signal, empty)
            value[unknown] = np.nan
        else:
            value[count < needed] = np.nan
        return Measured(value, count, needed, m.window, flat, m.signal, unknown)

    def matching(self, m: Measurement) -> tuple[EventView, FloatArray | None, BoolArray | None]:
        """The events ``m``'s aggregate runs over: its view (kind, window, instant), the measure
        per event of the view (None for an aggregate that counts) and which of the view's events
        match (``where``, a measure, the aggregate's own flag; None = all). The one home of that
        selection: scores and explain's evidence both read it."""
        aggregate = aggregate_of(m)
        view = self.view(m.signal, m.window)
        values = None if aggregate.counts else view.measure(m.measure)
        keep = _events(view, m, values)
        if aggregate.only is not None:
            keep = _both(keep, view.column(aggregate.only))
        return view, values, keep

    def _unknown(self, kind: str, empty: BoolArray) -> BoolArray:
        """``empty & ~known(kind)``. Who is known matters only for clients without events
        (usually none, or a few): when they are few and the rows grouped by client, their own
        rows are found by binary search instead of counting every event of the kind (the
        clients ``_measure`` has seen counted are skipped: a cap after a sum asks about few)."""
        if not empty.any():
            return empty
        # those another measurement counted events of are known; the rest are asked about
        counted = self._counted.get(kind)
        chosen = np.flatnonzero(empty if counted is None else empty & ~counted)
        frame = self.signals.frame(kind)
        if kind in self._known or len(chosen) * 64 > len(frame) or not self.grouped(kind):
            return empty & ~self.known(kind)
        seen = _has_visible_rows(frame.client, self.view(kind, None).rows, chosen)
        covered = self.signals.covered.get(kind)
        if covered is not None:
            seen |= np.asarray(covered, dtype=np.bool_)[chosen]
        unknown = np.zeros_like(empty)
        unknown[chosen[~seen]] = True
        return unknown

    def known(self, kind: str) -> BoolArray:
        """Per client, whether no events of ``kind`` can be read as a measured zero: a covering
        source says so (``SignalSet.covered``), or the client has had a signal of the kind visible
        as of ``at`` (any window, any ``where``): then its source is known to reach it."""
        found = self._known.get(kind)
        if found is None:  # a pass over all the kind's events: once per kind (a sum and a cap)
            view = self.view(kind, None)
            if self.grouped(kind):
                seen = _present(view.take(view.frame.client), self.n_clients)
            else:
                seen = np.bincount(view.column("client"), minlength=self.n_clients) > 0
            covered = self.signals.covered.get(kind)
            found = seen if covered is None else seen | np.asarray(covered, dtype=np.bool_)
            self._known[kind] = found
        return found


def _present(client: npt.NDArray[np.int32], size: int) -> BoolArray:
    """Per client row, whether it is in ``client`` (sorted): the first row and each change of
    client mark one; 3× cheaper than counting every row with ``bincount``."""
    seen = np.zeros(size, dtype=np.bool_)
    if len(client):
        seen[client[np.flatnonzero(client[1:] != client[:-1]) + 1]] = True
        seen[client[0]] = True
    return seen


def _has_visible_rows(
    client: npt.NDArray[np.int32], rows: npt.NDArray[np.intp] | None, chosen: npt.NDArray[np.intp]
) -> BoolArray:
    """Per ``chosen`` client, whether any of ``rows`` (sorted frame rows; None: all) is one of its
    rows, given ``client`` sorted: its rows are one run, ``[first, last)``."""
    needles = chosen.astype(client.dtype)  # a dtype unlike the frame's would copy the whole frame
    first = np.searchsorted(client, needles, side="left")
    last = np.searchsorted(client, needles, side="right")
    if rows is None:
        has: BoolArray = last > first
        return has
    has = np.searchsorted(rows, last, side="left") > np.searchsorted(rows, first, side="left")
    return has


def _events(view: EventView, m: Measurement, values: FloatArray | None) -> BoolArray | None:
    """The events an aggregate runs over: ``where`` matches with a measure (None = all rows)."""
    keep = view.where_mask(m.where)
    if values is None:
        return keep
    missing = np.isnan(values)
    # usually every event has its measure: then no mask to build, nor for the picker to test
    return _both(keep, ~missing) if missing.any() else keep


def _both(a: BoolArray | None, b: BoolArray) -> BoolArray:
    return b if a is None else a & b


def _picker(
    keep: BoolArray | None,
) -> tuple[Callable[[npt.NDArray[Any]], npt.NDArray[Any]], npt.NDArray[np.intp] | None]:
    """Restrict per-event columns to ``keep``: index once, then gathers (cheaper than masks).
    Also the index (None: every event)."""
    if keep is None or keep.all():
        return lambda column: column, None
    index = np.flatnonzero(keep)
    return lambda column: column[index], index
