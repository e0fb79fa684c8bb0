"""The aggregates a measurement may name: one table of their traits and vectorized implementations.

Every other module reads an aggregate from here: validation (is the name known, does it need a
numerator, which kinds it works on, whether it reads the measure), the measurer (which events it
runs over, how many it needs, how it reduces them), and explain (its words). ``engine.reference``
reads the names and traits but keeps its own plain implementations: it is the check.

Adding an aggregate: add an ``Aggregate`` to ``AGGREGATES`` (or a name pattern like the
percentiles'), its tests in ``tests/engine/test_aggregate_table.py``, and its plain version in
``engine.reference._reduce`` (the equivalence test draws aggregates from ``AGGREGATE_NAMES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from rapport.engine import aggregates as agg
from rapport.engine.fields import EventView
from rapport.engine.frame import BoolArray, FloatArray
from rapport.engine.model import WhereValue


@dataclass(frozen=True)
class Batch:
    """The events one measurement runs over, for every client at once.

    ``pick`` restricts a per-event column of ``view`` to the chosen events; ``groups`` is the
    client row of each chosen event and ``count`` the chosen events per client. ``values`` is the
    picked measure, None for an aggregate that counts (it never reads the measure).
    """

    name: str
    view: EventView
    pick: Callable[[npt.NDArray[Any]], npt.NDArray[Any]]
    groups: agg.Groups
    count: agg.CountArray
    values: FloatArray | None
    numerator: Mapping[str, WhereValue] | None

    def measured(self) -> FloatArray:
        """The picked measure; only aggregates that do not count ask for it."""
        assert self.values is not None, f"{self.name} counts events and has no measure"
        return self.values


#: Per client, the value (NaN where there is none) and, for a trend, the clients whose events
#: all share one instant (None for every other aggregate).
Reduced = tuple[FloatArray, BoolArray | None]
Reduce = Callable[[Batch], Reduced]


@dataclass(frozen=True)
class Aggregate:
    """What one aggregate is.

    ``counts``: it counts the matching events and never reads the measure, so an event with a NaN
    measure still counts. ``numerator``: it needs a ``numerator`` filter, and only it may have one.
    ``zero_when_empty``: no events is itself the measurement (0), so ``min_count`` does not apply
    and the value is never missing. ``min_events`` raises ``min_count`` to what the aggregate needs
    to mean anything (2 for a trend). ``kinds`` (None: any) are the only signal kinds it works on;
    ``only`` names a per-event flag an event must also have to be aggregated. ``words`` is how
    explain phrases it, formatted with ``name``, ``kind`` and ``measure`` (the measure in words).
    """

    name: str
    reduce: Reduce
    words: str = "{name} of {kind} {measure}"
    counts: bool = False
    numerator: bool = False
    zero_when_empty: bool = False
    min_events: int = 1
    kinds: tuple[str, ...] | None = None
    only: str | None = None

    def needed(self, min_count: int) -> int:
        """Events needed before the value is more than missing, given the rule's ``min_count``."""
        return 0 if self.zero_when_empty else max(min_count, self.min_events)

    def describe(self, kind: str, measure: str) -> str:
        return self.words.format(name=self.name, kind=kind, measure=measure)


def _plain(reduce: Callable[[Batch], FloatArray]) -> Reduce:
    return lambda batch: (reduce(batch), None)


def _count(b: Batch) -> FloatArray:
    return b.count.astype(np.float64)


def _ratio(b: Batch) -> FloatArray:
    mask = b.view.where_mask(b.numerator)
    hits = b.count if mask is None else np.bincount(b.groups, b.pick(mask), len(b.count))
    return agg.per_event(hits.astype(np.float64), b.count)


def _nps(b: Batch) -> FloatArray:
    promoters = agg.sums(b.groups, b.pick(b.view.column("promoter")), b.count)
    detractors = agg.sums(b.groups, b.pick(b.view.column("detractor")), b.count)
    return agg.per_event(promoters - detractors, b.count) * 100


def _trend(b: Batch) -> Reduced:
    x = -b.pick(b.view.column("age_days"))  # days relative to the instant: small, exact numbers
    value, spread = agg.trend(b.groups, x, b.pick(b.measured()), b.count)
    return value, ~spread


def _latest(b: Batch) -> FloatArray:
    ts, values = b.pick(b.view.column("ts")), b.pick(b.measured())
    # a view and the events picked from it keep the frame's row order
    return agg.latest(b.groups, ts, values, b.count, ordered=b.view.frame.ordered)


def _percentile(b: Batch) -> FloatArray:
    q = 50.0 if b.name == "median" else percentile_of(b.name)
    assert q is not None, f"{b.name} is not a percentile"
    return agg.percentiles(b.groups, b.pick(b.measured()), b.count, q)


def _over_measure(
    reduce: Callable[[agg.Groups, FloatArray, agg.CountArray], FloatArray],
) -> Reduce:
    return _plain(lambda b: reduce(b.groups, b.pick(b.measured()), b.count))


def _mean(groups: agg.Groups, values: FloatArray, count: agg.CountArray) -> FloatArray:
    return agg.per_event(agg.sums(groups, values, count), count)


#: Every aggregate with a fixed name, in the order error hints list them.
AGGREGATES: Mapping[str, Aggregate] = {
    a.name: a
    for a in (
        Aggregate(
            "count", _plain(_count), "count of {kind} signals", counts=True, zero_when_empty=True
        ),
        Aggregate("sum", _over_measure(agg.sums), zero_when_empty=True),
        Aggregate("mean", _over_measure(_mean)),
        Aggregate("median", _plain(_percentile)),
        Aggregate("min", _over_measure(agg.minima)),
        Aggregate("max", _over_measure(agg.maxima)),
        Aggregate("latest", _plain(_latest)),
        Aggregate("ratio", _plain(_ratio), "share of {kind} signals", counts=True, numerator=True),
        Aggregate("trend", _trend, "trend per day of {kind} {measure}", min_events=2),
        # nps reads each survey's answer (the measure), so a survey without one is not counted.
        Aggregate(
            "nps",
            _plain(_nps),
            "NPS (promoters% - detractors%) of {kind} answers",
            kinds=("survey",),
            only="nps_scale",
        ),
    )
}

#: Percentiles are spelled p1 … p99 (``p90``); one pattern, one entry.
PERCENTILE_PATTERN = "p1 … p99"
_PERCENTILE = re.compile(r"^p([1-9][0-9]?)$")
_PERCENTILE_AGGREGATE = Aggregate(PERCENTILE_PATTERN, _plain(_percentile))

#: Names offered by "did you mean": the fixed names and the usual percentiles.
AGGREGATE_NAMES = (*AGGREGATES, "p50", "p75", "p90", "p95", "p99")


def percentile_of(name: str) -> float | None:
    """``"p90"`` → 90.0; None for any other name."""
    match = _PERCENTILE.match(name)
    return float(match.group(1)) if match else None


@cache  # a handful of names, looked up for every measurement of every evaluation
def aggregate_named(name: str) -> Aggregate | None:
    """The aggregate ``name`` means (a percentile keeps its own name); None for an unknown one."""
    found = AGGREGATES.get(name)
    if found is None and percentile_of(name) is not None:
        return replace(_PERCENTILE_AGGREGATE, name=name)
    return found


def listing() -> str:
    """Every aggregate name, for an error hint: ``count, sum, …, nps, p1 … p99``."""
    return ", ".join([*AGGREGATES, PERCENTILE_PATTERN])


def takes_numerator() -> tuple[str, ...]:
    """The aggregates that need (and alone may have) a ``numerator``."""
    return tuple(name for name, a in AGGREGATES.items() if a.numerator)
