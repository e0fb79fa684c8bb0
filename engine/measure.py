"""Measurements for every client at once: the numbers components score and conditions compare.

A ``Measurer`` evaluates ``Measurement``s over a ``SignalSet`` as of one instant (or one instant per
client, to carry a value from each client's last signal). It keeps one ``EventView`` per (kind,
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
from rapport.engine.errors import ScoringError
from rapport.engine.fields import EventView, Instant, is_grouped
from rapport.engine.frame import BoolArray, FloatArray, SignalSet
from rapport.engine.model import Measurement, percentile_of

#: Absence of events is itself the measurement (0), so these are never missing for lack of events.
ALWAYS_MEASURED = ("count", "sum")
#: These count events and ignore the measure (an event with a NaN measure still counts).
COUNTING = ("count", "ratio")


@dataclass(frozen=True)
class Measured:
    """One measurement for every client: ``value`` is NaN where missing.

    ``count`` is how many events the aggregate ran over (for ``nps``, the NPS-scale surveys), and
    ``needed`` how many it needs; ``flat`` marks clients whose trend had enough events, all at one
    instant. Together they say why a value is missing.
    """

    value: FloatArray
    count: agg.CountArray
    needed: int
    window: float | None
    flat: BoolArray | None = None

    def reason(self, row: int) -> str:
        """Why client ``row`` has no value (only meaningful where ``value`` is NaN)."""
        if self.flat is not None and self.flat[row]:
            return notes.flat_trend()
        return notes.no_data(int(self.count[row]), self.needed, self.window)


def needed_events(m: Measurement) -> int:
    """Events an aggregate needs before it is more than missing: ``min_count``, 2 for a trend."""
    if m.aggregate in ALWAYS_MEASURED:
        return 0
    return max(m.min_count, 2) if m.aggregate == "trend" else m.min_count


def measurement_key(m: Measurement) -> str:
    """Identity of what a measurement computes (a component's curve and weight are no part)."""
    measure = m.measure if isinstance(m.measure, str) else m.measure.model_dump(by_alias=True)
    fields = [m.signal, m.where, measure, m.aggregate, m.window, m.numerator, m.min_count]
    return json.dumps(fields, sort_keys=True, default=str)


class Measurer:
    """Evaluates measurements over ``signals`` as of ``at``: one instant, or one per client (NaN =
    that client sees no events)."""

    def __init__(
        self,
        signals: SignalSet,
        n_clients: int,
        at: Instant,
        grouped: dict[str, bool] | None = None,
    ) -> None:
        self.signals = signals
        self.n_clients = n_clients
        self.at = at
        self._views: dict[tuple[str, float | None], EventView] = {}
        self._measured: dict[str, Measured] = {}
        self._grouped = {} if grouped is None else grouped  # per kind, shared with children

    def as_of_each(self, at: FloatArray) -> Measurer:
        """A measurer over the same signals as of one instant per client (NaN: not measured)."""
        return Measurer(self.signals, self.n_clients, at, self._grouped)

    def view(self, kind: str, window: float | None) -> EventView:
        """The events of ``kind`` seen in ``window`` (None: all history), built once and shared."""
        key = (kind, window)
        if key not in self._views:
            frame = self.signals.frame(kind)
            grouped = False
            if not isinstance(self.at, float):  # only the per-client path uses it
                if kind not in self._grouped:
                    self._grouped[kind] = is_grouped(frame.client)
                grouped = self._grouped[kind]
            self._views[key] = EventView.visible(kind, frame, window, self.at, grouped=grouped)
        return self._views[key]

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
        keep = _events(view, m, None if m.aggregate in COUNTING else view.measure(m.measure))
        pick = _picker(keep)
        newest = np.full(self.n_clients, -np.inf)
        np.maximum.at(newest, pick(view.column("client")), pick(view.column("ts")))
        return np.where(np.isfinite(newest), newest, np.nan)

    def _measure(self, m: Measurement) -> Measured:
        if m.aggregate == "nps" and m.signal != "survey":
            raise ScoringError(f"signal {m.signal!r}", "nps is an aggregate of survey signals")
        view = self.view(m.signal, m.window)
        values = None if m.aggregate in COUNTING else view.measure(m.measure)
        keep = _events(view, m, values)
        if m.aggregate == "nps":
            keep = _both(keep, view.column("nps_scale"))
        pick = _picker(keep)
        groups = pick(view.column("client"))
        count = np.bincount(groups, minlength=self.n_clients)
        needed = needed_events(m)
        flat = None
        if m.aggregate == "trend":
            assert values is not None
            x = -pick(view.column("age_days"))  # days relative to the instant: small, exact numbers
            value, spread = agg.trend(groups, x, pick(values), count)
            flat = (count >= needed) & ~spread
        else:
            value = self._reduce(m, view=view, pick=pick, groups=groups, count=count, values=values)
        if m.aggregate not in ALWAYS_MEASURED:
            value[count < needed] = np.nan
        return Measured(value, count, needed, m.window, flat)

    def _reduce(
        self,
        m: Measurement,
        *,
        view: EventView,
        pick: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
        groups: agg.Groups,
        count: agg.CountArray,
        values: FloatArray | None,
    ) -> FloatArray:
        name = m.aggregate
        if name == "count":
            return count.astype(np.float64)
        if name == "ratio":
            numerator = view.where_mask(m.numerator)
            hits = count if numerator is None else np.bincount(groups, pick(numerator), len(count))
            return agg.per_event(hits.astype(np.float64), count)
        if name == "nps":
            promoters = agg.sums(groups, pick(view.column("promoter")), count)
            detractors = agg.sums(groups, pick(view.column("detractor")), count)
            return agg.per_event(promoters - detractors, count) * 100
        if values is None:
            raise ScoringError(f"aggregate {name!r}", "it needs a measure")
        picked = pick(values)
        reducers: dict[str, Callable[[], FloatArray]] = {
            "sum": lambda: agg.sums(groups, picked, count),
            "mean": lambda: agg.per_event(agg.sums(groups, picked, count), count),
            "min": lambda: agg.minima(groups, picked, count),
            "max": lambda: agg.maxima(groups, picked, count),
            "median": lambda: agg.percentiles(groups, picked, count, 50.0),
            "latest": lambda: agg.latest(groups, pick(view.column("ts")), picked, count),
        }
        if name in reducers:
            return reducers[name]()
        q = percentile_of(name)
        if q is None:
            raise ScoringError(f"aggregate {name!r}", "it is not a known aggregate")
        return agg.percentiles(groups, picked, count, q)


def _events(view: EventView, m: Measurement, values: FloatArray | None) -> BoolArray | None:
    """The events an aggregate runs over: ``where`` matches with a measure (None = all rows)."""
    keep = view.where_mask(m.where)
    return keep if values is None else _both(keep, ~np.isnan(values))


def _both(a: BoolArray | None, b: BoolArray) -> BoolArray:
    return b if a is None else a & b


def _picker(keep: BoolArray | None) -> Callable[[npt.NDArray[Any]], npt.NDArray[Any]]:
    """Restrict per-event columns to ``keep``: index once, then gathers (cheaper than masks)."""
    if keep is None or keep.all():
        return lambda column: column
    index = np.flatnonzero(keep)
    return lambda column: column[index]
