"""What a rule can read from the events of one signal kind, as of an evaluation instant.

An ``EventView`` holds the rows of one ``KindFrame`` visible as of ``at`` (``ts <= at``, and
recorded at or before the evaluation instant: see ``KindFrame``) and, when a window is given,
inside it (``at - window < ts``). ``at`` is one instant for every event, or one instant per event
(its client's) when the scorer re-measures a client as of its last signal to carry a value; such a
view still sees only what was recorded by the evaluation instant (``known_by``). Derived fields
(``late_days``, ``open``, ``normalized``...) are computed on first use and cached, so components
sharing a kind and a window compute them once. An ``end`` later than ``at`` has not happened yet:
the view reads it as NaN, which makes replaying a past ``as_of`` exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from rapport.engine.errors import ScoringError
from rapport.engine.frame import BoolArray, Categorical, FloatArray, IntArray, KindFrame
from rapport.engine.kinds import BUILTIN_KINDS, PLAIN_MEASURES, scale_bounds
from rapport.engine.model import AttrMeasure, WhereValue

DAY = 86400.0
HOUR = 3600.0
IndexArray = npt.NDArray[np.intp]
#: One evaluation instant for all events, or one per event.
Instant = float | FloatArray


def epoch_seconds(as_of: datetime) -> float:
    """UTC epoch seconds of an aware ``as_of``; a naive one is refused: its zone is a guess."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware, got naive {as_of.isoformat()}")
    return as_of.timestamp()


def where_texts(wanted: WhereValue) -> frozenset[str]:
    """The texts a ``where`` value accepts. YAML scalars compare as text: True → "true", 3 → "3"."""
    items = wanted if isinstance(wanted, list) else [wanted]
    return frozenset(("true" if v else "false") if isinstance(v, bool) else str(v) for v in items)


def survey_bounds(scale: str | None) -> tuple[float, float]:
    """(lo, hi) of a survey's scale; an absent scale is NPS, an unparseable one is (NaN, NaN)."""
    try:
        return scale_bounds("nps" if scale is None else scale)
    except ValueError:
        return np.nan, np.nan


def is_nps(scale: str | None) -> bool:
    """Promoter, passive and detractor only mean something on the NPS scale (absent = NPS)."""
    return scale is None or scale == "nps"


def flags_of(kind: str) -> tuple[str, ...]:
    spec = BUILTIN_KINDS.get(kind)
    return spec.flags if spec is not None else ()


def measures_of(kind: str) -> tuple[str, ...]:
    """Numeric fields a measure may name: the kind's measures, its 0/1 flags, and the raw value."""
    spec = BUILTIN_KINDS.get(kind)
    own = spec.measures if spec is not None else PLAIN_MEASURES
    return (*own, *flags_of(kind), "value")


class EventView:
    """Rows ``rows`` of ``frame`` (None = all rows) seen as of ``at`` (scalar or one per row)."""

    def __init__(self, kind: str, frame: KindFrame, rows: IndexArray | None, at: Instant) -> None:
        self.kind = kind
        self.frame = frame
        self.rows = rows
        self.at = at
        self._columns: dict[str, npt.NDArray[Any]] = {}
        self._masks: dict[str, BoolArray | None] = {}

    @classmethod
    def visible(
        cls,
        kind: str,
        frame: KindFrame,
        window: float | None,
        at: Instant,
        *,
        known_by: float | None = None,
        grouped: bool = False,
    ) -> EventView:
        """Events with ``at - window < ts <= at`` recorded by ``known_by`` (default: ``at``, which
        must then be one instant); an array ``at`` holds one instant per client.

        A client whose instant is NaN sees nothing, which is how a carry re-measures only the
        clients that need it. ``grouped`` promises ``frame.client`` is sorted, so those clients'
        rows are found by binary search instead of a pass over the frame.
        """
        if known_by is None:
            if not isinstance(at, float):
                raise ValueError("one instant per client needs the instant they are known by")
            known_by = at
        if isinstance(at, float):
            if at == known_by and frame.known_until <= at:
                # Every event is known by the instant (the usual case: scoring now), so only
                # the window's start is compared; no window: every row, and no pass at all.
                if window is None:
                    return cls(kind, frame, None, at)
                seen = frame.ts > at - window
            else:
                seen = _within(frame, None, at, known_by, window)
            if seen.all():  # the usual case with no window: skip the gathers of every column
                return cls(kind, frame, None, at)
            return cls(kind, frame, np.flatnonzero(seen), at)
        rows = rows_of_clients(frame.client, np.flatnonzero(~np.isnan(at)), grouped=grouped)
        at_rows = at[frame.client[rows].astype(np.intp)]
        seen = _within(frame, rows, at_rows, known_by, window)
        return cls(kind, frame, rows[seen], at_rows[seen])

    def __len__(self) -> int:
        return len(self.frame) if self.rows is None else len(self.rows)

    def take(self, column: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A frame column restricted to this view's rows."""
        return column if self.rows is None else column[self.rows]

    def clients(self, index: IndexArray | None) -> IndexArray:
        """The client row (intp) of the view's events ``index`` (None: all of them): the
        ``client`` column picked, but gathered before it is widened, so picking a few events
        of a large view costs what the few do."""
        cached = self._columns.get("client")
        if index is None or cached is not None:
            whole = self.column("client")
            return whole if index is None else whole[index]
        rows = index if self.rows is None else self.rows[index]
        return self.frame.client[rows].astype(np.intp)

    def column(self, name: str) -> npt.NDArray[Any]:
        """A raw or derived per-event column by name, computed once per view."""
        cached = self._columns.get(name)
        if cached is None:
            derive = _KIND_COLUMNS.get(self.kind, {}).get(name) or _COMMON_COLUMNS.get(name)
            if derive is None:
                raise ScoringError(f"signal {self.kind!r}", f"it has no field {name!r}")
            cached = self._columns[name] = derive(self)
        return cached

    def measure(self, measure: str | AttrMeasure) -> FloatArray:
        """The per-event numbers an aggregate runs over (flags read as 1.0 / 0.0)."""
        if isinstance(measure, AttrMeasure):
            key = "measure:" + measure.model_dump_json(by_alias=True)
            if key not in self._columns:
                self._columns[key] = self.categorical(measure.from_).lookup(measure.map)
            return self._columns[key]
        if measure not in measures_of(self.kind):
            raise ScoringError(f"signal {self.kind!r}", f"{measure!r} is not one of its measures")
        return self.column(measure).astype(np.float64, copy=False)

    def attr(self, name: str) -> tuple[IntArray, tuple[str, ...]]:
        """Codes and categories of attribute ``name``; a column no event has is all absent."""
        found = self.frame.attrs.get(name)
        if found is None:
            return np.full(len(self), -1, dtype=np.int32), ()
        return self.take(found.codes), found.categories

    def categorical(self, name: str) -> Categorical:
        """Attribute ``name`` of this view's rows as a ``Categorical`` (see ``attr``)."""
        return Categorical(*self.attr(name))

    def where_mask(self, where: Mapping[str, WhereValue] | None) -> BoolArray | None:
        """Rows matching every ``where`` entry; None when there is nothing to filter on."""
        if not where:
            return None
        key = json.dumps(sorted(where.items()), default=str)
        if key not in self._masks:
            entries = iter(where.items())
            name, wanted = next(entries)
            mask = self._matches(name, where_texts(wanted))
            if len(where) > 1:
                mask = mask.copy()  # a flag's mask may be the cached column itself
                for name, wanted in entries:
                    mask &= self._matches(name, where_texts(wanted))
            self._masks[key] = mask
        return self._masks[key]

    def _matches(self, name: str, texts: frozenset[str]) -> BoolArray:
        if name in flags_of(self.kind):  # a flag compares as a boolean, spelled "true" / "false"
            flag = self.column(name)
            if "true" in texts and "false" in texts:
                return np.ones(len(self), dtype=np.bool_)
            if "true" in texts:
                return np.asarray(flag, dtype=np.bool_)
            if "false" in texts:
                return ~flag
            return np.zeros(len(self), dtype=np.bool_)
        column = self.categorical(name)
        codes = column.codes
        wanted = [code for code, text in enumerate(column.categories) if text in texts]
        if len(wanted) > 4:
            return column.isin(texts)
        # A few wanted values: comparing codes is cheaper than a lookup gathered by int32 codes.
        mask = np.zeros(len(codes), dtype=np.bool_)
        for code in wanted:
            mask |= codes == code
        return mask


def rows_of_clients(client: IntArray, chosen: IndexArray, *, grouped: bool) -> IndexArray:
    """Rows (in frame order) whose client is one of ``chosen`` (sorted client rows)."""
    if not grouped:
        wanted = np.zeros(int(chosen.max(initial=-1)) + 1, dtype=np.bool_)
        wanted[chosen] = True
        inside = client < len(wanted)
        inside[inside] = wanted[client[inside].astype(np.intp)]
        return np.flatnonzero(inside)
    needles = chosen.astype(client.dtype)  # a dtype unlike the frame's would copy the whole frame
    starts = np.searchsorted(client, needles, side="left")
    lengths = np.searchsorted(client, needles, side="right") - starts
    # One arange per chosen client, concatenated: shift a global arange by each run's offset.
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    rows: IndexArray = np.arange(int(lengths.sum()), dtype=np.intp) + shift
    return rows


def _within(
    frame: KindFrame, rows: IndexArray | None, at: Instant, known_by: float, window: float | None
) -> BoolArray:
    """Which of ``rows`` (None: all) have ``at - window < ts <= at`` and were recorded by
    ``known_by``."""
    ts = frame.ts if rows is None else frame.ts[rows]
    if isinstance(at, float) and at == known_by:
        # ts <= at and recorded <= at in one comparison: known_from is the later of the two
        seen: BoolArray = frame.known_from <= at if rows is None else frame.known_from[rows] <= at
    else:
        seen = ts <= at
        if frame.recorded is not None:
            recorded = frame.recorded if rows is None else frame.recorded[rows]
            seen &= ~(recorded > known_by)  # NaN: known from its ts
    if window is not None:
        seen &= ts > at - window
    return seen


# --- derived columns -----------------------------------------------------------------------------


def _end(view: EventView) -> FloatArray:
    end = view.take(view.frame.end)
    return np.where(end <= view.at, end, np.nan)  # NaN <= at is False, so open stays NaN


def _age_days(view: EventView) -> FloatArray:
    return np.asarray((view.at - view.column("ts")) / DAY, dtype=np.float64)


def _closed(view: EventView) -> BoolArray:
    # ``_end``'s rule read straight off the frame: an end (not NaN) by the instant. A flag alone
    # (a cap on open incidents) then costs one comparison, not the end column and a NaN test.
    closed: BoolArray = view.take(view.frame.end) <= view.at
    return closed


def _not_closed(view: EventView) -> BoolArray:
    return ~_closed(view)


def _missed(view: EventView) -> BoolArray:
    # ``late_days > 0`` without the days: max(0, (done - ts) / DAY) > 0 iff done > ts (finite
    # times; dividing by DAY keeps the sign), and done is the end if it came by the instant, else
    # the instant (``_end`` then ``_late_days``). Two passes, not six, when only the flag is read.
    end = view.take(view.frame.end)
    missed: BoolArray = np.where(end <= view.at, end, view.at) > view.column("ts")
    return missed


def _late_days(view: EventView) -> FloatArray:
    end = view.column("end")
    done = np.where(np.isnan(end), view.at, end)  # open by the instant: counted to it
    return np.asarray(np.maximum(0.0, (done - view.column("ts")) / DAY), dtype=np.float64)


def _duration_hours(view: EventView) -> FloatArray:
    end = view.column("end")
    done = np.where(np.isnan(end), view.at, end)  # open by the instant: counted to it
    return np.asarray((done - view.column("ts")) / HOUR, dtype=np.float64)


def _survey_lut(view: EventView, of_scale: Callable[[str | None], Any]) -> npt.NDArray[Any]:
    """Per-event ``of_scale(scale attr)``, evaluated once per category (absent = None)."""
    codes, categories = view.attr("scale")
    lut = np.array([of_scale(c) for c in categories] + [of_scale(None)])
    return lut.take(codes, mode="wrap")  # as Categorical.lookup: -1 wraps to the absent entry


def _normalized(view: EventView) -> FloatArray:
    low = _survey_lut(view, lambda scale: survey_bounds(scale)[0])
    # high - low per scale, not per event: the same float per event, one gather and one pass fewer
    span = _survey_lut(view, lambda scale: survey_bounds(scale)[1] - survey_bounds(scale)[0])
    # (value - low) / span * 100, in place in the fresh ``low``: no temporary per step
    normalized: FloatArray = np.subtract(view.column("value"), low, out=low)
    normalized /= span
    normalized *= 100
    return normalized


def _nps_answer(view: EventView, low: float, high: float) -> BoolArray:
    value = view.column("value")
    answer: BoolArray = view.column("nps_scale") & (value >= low) & (value <= high)
    return answer


_COMMON_COLUMNS: dict[str, Callable[[EventView], npt.NDArray[Any]]] = {
    # intp, not the frame's int32: numpy gathers and bincounts by intp indexes several times faster
    "client": lambda v: v.take(v.frame.client).astype(np.intp),
    "ts": lambda v: v.take(v.frame.ts),
    "value": lambda v: v.take(v.frame.value),
    "end": _end,
    "age_days": _age_days,
}

_KIND_COLUMNS: dict[str, dict[str, Callable[[EventView], npt.NDArray[Any]]]] = {
    "milestone": {
        "delivered": _closed,
        "open": _not_closed,
        "late_days": _late_days,
        "missed": _missed,
    },
    "incident": {"open": _not_closed, "resolved": _closed, "duration_hours": _duration_hours},
    "survey": {
        "nps_scale": lambda v: _survey_lut(v, is_nps).astype(np.bool_),
        "normalized": _normalized,
        "promoter": lambda v: _nps_answer(v, 9, np.inf),
        "passive": lambda v: _nps_answer(v, 7, 8),
        "detractor": lambda v: _nps_answer(v, -np.inf, 6),
    },
}
