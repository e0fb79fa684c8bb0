"""The scorer's plain reference: ``engine.scoring``'s semantics, one client and one event at a time.

It is written to be obviously right rather than fast: ordinary loops over Python floats, nothing
vectorized. A property test holds ``evaluate`` equal to ``evaluate_reference`` on random scorecards
and signals, and the benchmarks measure how much faster the vectorized scorer is. It shares only the
wording of notes and the scalar rules of reading a ``where`` value or a survey scale.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from rapport.engine import notes
from rapport.engine.aggregate_table import Aggregate, aggregate_named, percentile_of
from rapport.engine.errors import ScoringError
from rapport.engine.fields import (
    DAY,
    HOUR,
    epoch_seconds,
    flags_of,
    is_nps,
    measures_of,
    survey_bounds,
    where_texts,
)
from rapport.engine.frame import ClientSet, KindFrame, SignalSet
from rapport.engine.model import (
    AttrMeasure,
    Cap,
    Carry,
    Component,
    Curve,
    Floor,
    Measurement,
    Neutral,
    Scale,
    Scorecard,
    WhereValue,
)
from rapport.engine.result import Evaluation, Status
from rapport.engine.scoring import SCORE_DECIMALS, evaluation_of, limits_of

NAN = math.nan


@dataclass(frozen=True)
class _Event:
    row: int  # position in its kind frame: breaks ties between equal times
    ts: float
    end: float
    value: float
    attrs: Mapping[str, str]
    recorded: float = NAN  # when it became known; NaN: known from its ts

    def seen(self, at: float, known_by: float) -> bool:
        """Whether a measurement as of ``at`` with what was recorded by ``known_by`` sees this
        event: it happened (``ts <= at``; an event without a time never did) and was not recorded
        after ``known_by``."""
        return self.ts <= at and not self.recorded > known_by


@dataclass(frozen=True)
class _Sources:
    """One client's source flags by kind: stale, and covered by a fresh collector."""

    stale: Mapping[str, bool]
    covered: Mapping[str, bool]

    def covers(self, kind: str) -> bool:
        return self.covered.get(kind, False)


Fields = dict[str, float | bool]
#: One client's events of a kind, by kind name.
_EventsOf = Callable[[str], list[_Event]]


@dataclass
class _ClientRow:
    raw: list[float] = field(default_factory=list)
    points: list[float] = field(default_factory=list)
    share: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)
    score: float = NAN
    coverage: float = 0.0
    grade: int = -1
    applied: list[bool] = field(default_factory=list)


def evaluate_reference(
    scorecard: Scorecard,
    clients: ClientSet,
    signals: SignalSet,
    as_of: datetime,
    rules_version: str,
) -> Evaluation:
    """What ``engine.scoring.evaluate`` returns, computed client by client, event by event."""
    at = epoch_seconds(as_of)
    events = {kind: _events_by_client(frame, len(clients)) for kind, frame in signals.kinds.items()}
    per_segment: dict[str | None, dict[str, Component]] = {}
    rows = []
    for i, segment in enumerate(clients.segments):
        if segment not in per_segment:
            per_segment[segment] = scorecard.components_for(segment)

        def mine(kind: str, client: int = i) -> list[_Event]:
            return events[kind][client] if kind in events else []

        stale = {kind: bool(flags[i]) for kind, flags in signals.stale.items()}
        covered = {kind: bool(flags[i]) for kind, flags in signals.covered.items()}
        source = _Sources(stale, covered)
        rows.append(_score_client(scorecard, per_segment[segment], mine, source, at))
    return _assemble(scorecard, clients, as_of, rules_version, rows)


def _events_by_client(frame: KindFrame, size: int) -> list[list[_Event]]:
    """The frame's rows as plain events, in frame order, listed per client."""
    by_client: list[list[_Event]] = [[] for _ in range(size)]
    attrs = {name: (cat.codes.tolist(), cat.categories) for name, cat in frame.attrs.items()}
    recorded = [NAN] * len(frame) if frame.recorded is None else frame.recorded.tolist()
    columns = zip(
        frame.client.tolist(),
        frame.ts.tolist(),
        frame.end.tolist(),
        frame.value.tolist(),
        recorded,
        strict=True,
    )
    for row, (client, ts, end, value, known) in enumerate(columns):
        mine = {name: cats[codes[row]] for name, (codes, cats) in attrs.items() if codes[row] >= 0}
        by_client[client].append(_Event(row, ts, end, value, mine, known))
    return by_client


# --- one client -----------------------------------------------------------------------------------


def _score_client(
    scorecard: Scorecard,
    components: Mapping[str, Component],
    events: _EventsOf,
    source: _Sources,
    at: float,
) -> _ClientRow:
    out = _ClientRow()
    for column, comp in enumerate(components.values()):
        raw, points, status, note = _component(
            comp, scorecard.scale, events(comp.signal), source, at
        )
        out.raw.append(raw)
        out.points.append(points)
        out.status.append(status)
        if note is not None:
            out.notes[column] = note
    weights = [
        0.0 if math.isnan(p) else c.weight
        for p, c in zip(out.points, components.values(), strict=True)
    ]
    total = sum(weights)
    out.share = [w / total if total > 0 else 0.0 for w in weights]
    if total > 0:
        weighted = sum(
            s * p for s, p in zip(out.share, out.points, strict=True) if not math.isnan(p)
        )
        out.score = float(np.round(weighted, SCORE_DECIMALS))
    out.base = [c.weight for c in components.values()]
    out.coverage = _coverage(out.base, out.status)
    ids = list(components)
    out.applied = [
        _holds(limit, ids=ids, raw=out.raw, events=events, source=source, at=at)
        for limit in limits_of(scorecard)
    ]
    for floor, held in zip(scorecard.floors, out.applied[len(scorecard.caps) :], strict=True):
        if held and not math.isnan(out.score):
            out.score = max(out.score, floor.min)
    for cap, held in zip(scorecard.caps, out.applied, strict=False):  # caps last: they win
        if held and not math.isnan(out.score):
            out.score = min(out.score, cap.max)
    out.grade = _grade(scorecard, out.score)
    return out


def _coverage(weights: list[float], status: list[int]) -> float:
    """The share of the (segment's) weight on components measured from signals (status ok)."""
    total = sum(weights)
    ok = sum(w for w, s in zip(weights, status, strict=True) if s == Status.OK)
    return round(ok / total, SCORE_DECIMALS) if total > 0 else 0.0


def _component(
    comp: Component, scale: Scale, events: list[_Event], source: _Sources, at: float
) -> tuple[float, float, int, str | None]:
    """(raw, points, status, note) of one component for one client."""
    stale, covered = source.stale.get(comp.signal, False), source.covers(comp.signal)
    value, why = _measure(comp, events, at, covered)
    if stale:
        value, why = NAN, notes.stale_source(comp.signal)
    if not math.isnan(value):
        return value, _curve(comp.curve, scale, value), Status.OK, None
    status = Status.STALE if stale else Status.MISSING
    policy = comp.missing
    if isinstance(policy, Neutral):
        points = min(max(policy.neutral, scale.min), scale.max)
        return NAN, points, status, notes.neutral(why, policy.neutral)
    if isinstance(policy, Carry):
        last = _last_seen(comp, events, at)
        if not math.isnan(last) and at - last <= policy.carry:
            again = _measure(comp, events, last, covered, known_by=at)[0]  # known at ``at``
            if not math.isnan(again):
                note = notes.carried(last, at - last, comp.signal if stale else None)
                return again, _curve(comp.curve, scale, again), Status.STALE, note
    return NAN, NAN, status, why


def _holds(
    limit: Cap | Floor,
    *,
    ids: list[str],
    raw: list[float],
    events: _EventsOf,
    source: _Sources,
    at: float,
) -> bool:
    """Whether a cap's or floor's condition holds for this client; never over missing data."""
    inline = limit.when.measurement()
    if inline is not None:
        kind = inline.signal
        value = _measure(inline, events(kind), at, source.covers(kind))[0]
    elif limit.when.component in ids:
        value = raw[ids.index(limit.when.component)]
    else:
        raise ScoringError(f"limit {limit.id!r}", f"no component {limit.when.component!r}")
    op, threshold = limit.when.comparison()
    if math.isnan(value):
        return False
    return {
        "above": value > threshold,
        "below": value < threshold,
        "at_least": value >= threshold,
        "at_most": value <= threshold,
    }[op]


def _grade(scorecard: Scorecard, score: float) -> int:
    best = -1
    for index, grade in enumerate(scorecard.grades):
        if score >= grade.min and (best < 0 or grade.min > scorecard.grades[best].min):
            best = index
    return best


# --- measuring ------------------------------------------------------------------------------------


def _measure(
    m: Measurement,
    events: list[_Event],
    at: float,
    covered: bool,
    known_by: float | None = None,
) -> tuple[float, str]:
    """(value, why it is missing) of ``m`` over one client's events, as of ``at``, seeing those
    recorded by ``known_by`` (default: ``at``).

    ``count`` and ``sum`` over no events are 0 only where a source is known to reach the client:
    ``covered`` (a fresh collector maps it), or it has had a signal of the kind by ``at``."""
    known_by = at if known_by is None else known_by
    if m.aggregate == "nps" and m.signal != "survey":
        raise ScoringError(f"signal {m.signal!r}", "nps is an aggregate of survey signals")
    chosen = [c for c in (_read(m, event, at, known_by) for event in events) if c is not None]
    n, needed = len(chosen), _traits(m).needed(m.min_count)
    why = notes.no_data(n, needed, m.window)
    if not _traits(m).zero_when_empty and n < needed:
        return NAN, why
    if n == 0 and not covered and not any(event.seen(at, known_by) for event in events):
        return NAN, notes.no_source(m.signal, m.window)
    if m.aggregate == "trend":
        return _slope([(e.ts - at) / DAY for e, _, _ in chosen], [x for _, _, x in chosen], why)
    return _reduce(m, chosen), why


Chosen = tuple[_Event, Fields, float]


def _traits(m: Measurement) -> Aggregate:
    """The table's traits of ``m``'s aggregate (never its implementation: this is the check)."""
    found = aggregate_named(m.aggregate)
    if found is None:
        raise ScoringError(f"aggregate {m.aggregate!r}", "it is not a known aggregate")
    return found


def _read(m: Measurement, event: _Event, at: float, known_by: float) -> Chosen | None:
    """The event with its fields and measure if ``m`` counts it as of ``at`` (with what was
    recorded by ``known_by``), else None."""
    # written as "not seen" so that an event without a time (NaN) is never seen
    if not event.seen(at, known_by) or (m.window is not None and not at - m.window < event.ts):
        return None
    fields = _fields(m.signal, event, at)
    if not _matches(m.signal, fields, event.attrs, m.where):
        return None
    x = NAN if _traits(m).counts else _measure_of(m, fields, event)
    if not _traits(m).counts and math.isnan(x):
        return None
    if m.aggregate == "nps" and not fields["nps_scale"]:
        return None
    return event, fields, x


def _reduce(m: Measurement, chosen: list[Chosen]) -> float:
    """The aggregate over at least one chosen event (or none, for count and sum)."""
    name, n, xs = m.aggregate, len(chosen), [x for _, _, x in chosen]
    if name == "count":
        return float(n)
    if name == "sum":
        return float(sum(xs))
    if name == "mean":
        return sum(xs) / n
    if name == "ratio":
        hits = sum(1 for e, f, _ in chosen if _matches(m.signal, f, e.attrs, m.numerator or {}))
        return hits / n
    if name == "nps":
        promoters = sum(1 for _, f, _ in chosen if f["promoter"])
        detractors = sum(1 for _, f, _ in chosen if f["detractor"])
        return (promoters - detractors) / n * 100
    if name in ("min", "max"):
        return min(xs) if name == "min" else max(xs)
    if name == "latest":
        return max(chosen, key=lambda c: (c[0].ts, c[0].row))[2]
    q = 50.0 if name == "median" else percentile_of(name)
    if q is None:
        raise ScoringError(f"aggregate {name!r}", "it is not a known aggregate")
    return float(np.percentile(xs, q))


def _slope(xs: list[float], ys: list[float], why: str) -> tuple[float, str]:
    """Least-squares slope of ``ys`` over ``xs``; missing when every x is the same."""
    if len(set(xs)) < 2:
        return NAN, notes.flat_trend()
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) * (x - mx) for x in xs)
    return sxy / sxx, why


def _last_seen(m: Measurement, events: list[_Event], at: float) -> float:
    """``ts`` of the latest visible event matching ``m``'s kind and where, with a measure."""
    last = NAN
    for event in events:
        if not event.seen(at, at):
            continue
        fields = _fields(m.signal, event, at)
        if not _matches(m.signal, fields, event.attrs, m.where):
            continue
        if not _traits(m).counts and math.isnan(_measure_of(m, fields, event)):
            continue
        if math.isnan(last) or event.ts > last:
            last = event.ts
    return last


def _fields(kind: str, event: _Event, at: float) -> Fields:
    """Every per-event field a rule can read, as of ``at``; an end after ``at`` has not happened."""
    end = event.end if event.end <= at else NAN  # NaN <= at is False: open stays open
    fields: Fields = {"value": event.value, "age_days": (at - event.ts) / DAY}
    if kind == "milestone":
        delivered = not math.isnan(end)
        late = max(0.0, ((end if delivered else at) - event.ts) / DAY)
        fields.update(delivered=delivered, open=not delivered, late_days=late, missed=late > 0)
    elif kind == "incident":
        resolved = not math.isnan(end)
        hours = ((end if resolved else at) - event.ts) / HOUR
        fields.update(open=not resolved, resolved=resolved, duration_hours=hours)
    elif kind == "survey":
        scale = event.attrs.get("scale")
        low, high = survey_bounds(scale)
        nps, v = is_nps(scale), event.value
        fields.update(
            nps_scale=nps,
            normalized=(v - low) / (high - low) * 100,
            promoter=nps and v >= 9,
            passive=nps and 7 <= v <= 8,
            detractor=nps and v <= 6,
        )
    return fields


def _matches(
    kind: str, fields: Fields, attrs: Mapping[str, str], where: Mapping[str, WhereValue]
) -> bool:
    for name, wanted in where.items():
        if name in flags_of(kind):
            text: str | None = "true" if fields[name] else "false"
        else:
            text = attrs.get(name)
        if text is None or text not in where_texts(wanted):
            return False
    return True


def _measure_of(m: Measurement, fields: Fields, event: _Event) -> float:
    if isinstance(m.measure, AttrMeasure):
        key = event.attrs.get(m.measure.from_)
        return NAN if key is None else m.measure.map.get(key, NAN)
    if m.measure not in measures_of(m.signal):
        raise ScoringError(f"signal {m.signal!r}", f"{m.measure!r} is not one of its measures")
    return float(fields[m.measure])


def _curve(curve: Curve, scale: Scale, value: float) -> float:
    if curve.bands is not None:
        points = _band_points(curve, value)
    elif curve.points is not None:
        points = _piecewise(sorted(curve.points, key=lambda pair: pair[0]), value)
    else:
        assert curve.linear is not None
        best, worst = curve.linear.best, curve.linear.worst
        share = min(max((value - worst) / (best - worst), 0.0), 1.0)
        points = scale.min + share * (scale.max - scale.min)
    return min(max(points, scale.min), scale.max)


def _band_points(curve: Curve, value: float) -> float:
    assert curve.bands is not None
    bands = sorted(((b.interval(), b.points) for b in curve.bands), key=lambda band: band[0].low)
    for interval, points in bands:
        if interval.holds(value):
            return points

    def distance(i: int) -> tuple[float, int]:
        interval = bands[i][0]
        return (interval.low - value if value < interval.low else value - interval.high, i)

    return bands[min(range(len(bands)), key=distance)][1]


def _piecewise(pairs: Sequence[tuple[float, float]], value: float) -> float:
    """Straight lines between ``(x, points)`` pairs, flat beyond the first and last."""
    if value <= pairs[0][0]:
        return pairs[0][1]
    if value >= pairs[-1][0]:
        return pairs[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pairs):
        if x0 <= value < x1:
            return (y1 - y0) / (x1 - x0) * (value - x0) + y0
    raise AssertionError("sorted pairs bracket every value between the first and the last")


# --- output ---------------------------------------------------------------------------------------


def _assemble(
    scorecard: Scorecard,
    clients: ClientSet,
    as_of: datetime,
    rules_version: str,
    rows: list[_ClientRow],
) -> Evaluation:
    shape = (len(rows), len(scorecard.components))
    return evaluation_of(
        scorecard,
        clients,
        as_of,
        rules_version,
        score=np.array([r.score for r in rows], dtype=np.float64),
        grade=np.array([r.grade for r in rows], dtype=np.int16),
        coverage=np.array([r.coverage for r in rows], dtype=np.float64),
        raw=np.array([r.raw for r in rows], dtype=np.float64).reshape(shape),
        points=np.array([r.points for r in rows], dtype=np.float64).reshape(shape),
        weight=np.array([r.share for r in rows], dtype=np.float64).reshape(shape),
        status=np.array([r.status for r in rows], dtype=np.int8).reshape(shape),
        notes={(i, j): text for i, r in enumerate(rows) for j, text in r.notes.items()},
        applied=np.array([r.applied for r in rows], dtype=np.bool_).reshape(
            len(rows), len(limits_of(scorecard))
        ),
    )
