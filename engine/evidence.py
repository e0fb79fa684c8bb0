"""The events behind one client's score: which signals each component and limit read, and the few
that decided it.

``evidence_of`` takes the arrays a score was computed from (the ``SignalSet`` and its
``Evaluation``) and one client row. For that client only it selects, with the scorer's own
``Measurer.matching``, the events each component's measurement and each applied limit's condition
ran over, as of the same instant (a carried component: as of the signal it was carried from), so
evidence and score cannot disagree. Of those it keeps the few that matter, per aggregate:

- a percentile (p50 and up), ``max``: the largest values; a low percentile, ``min``: the smallest;
- ``mean``, ``median``: the values that cost points (the end of the curve that scores lower);
- ``latest``: the newest two; ``trend``, ``count``: the newest; ``sum``: the heaviest;
- ``ratio``: the events matching the numerator (the missed milestones), newest first;
- ``nps``: the lowest answers (detractors first);
- a limit: the events that make its condition hold (for ``above``/``at_least`` the largest values,
  for ``below``/``at_most`` the smallest; counts and sums as above).

At most ``limit`` events per component or limit (``latest``: two), with how many more matched.
Times are UTC. Pure: no IO, no clock; the cost is one pass over the client's own rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from rapport.engine.aggregate_table import percentile_of
from rapport.engine.fields import EventView, epoch_seconds
from rapport.engine.frame import FloatArray, KindFrame, SignalSet
from rapport.engine.measure import Measurer
from rapport.engine.model import Carry, Component, Curve, Measurement, Scorecard
from rapport.engine.result import Evaluation, Status
from rapport.engine.scoring import limits_of

#: Events listed per component or limit; the rest are counted as "and K more".
MAX_EVIDENCE = 5
#: ``latest`` reads the newest event; the one before it says where it came from.
LATEST_EVIDENCE = 2

IndexArray = npt.NDArray[np.intp]


class Evidence(BaseModel):
    """One event a component or limit read, as the evaluation saw it.

    ``ts`` is the event's time (a milestone's due, an incident's opened-at), ``end`` its delivery
    or resolution if that had happened by the instant (else None). ``value`` is the number the
    aggregate read for it; for a counting aggregate the kind's own figure (days late, hours open,
    the answer). ``event_id`` is None when the caller had no ids for the arrays. ``why`` says it in
    words: ``"'Go-live' due 2026-11-02 23:59 UTC, still open: 17.0 days late"``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str | None
    kind: str
    ts: datetime
    end: datetime | None
    value: float | None
    attrs: dict[str, str]
    why: str


class EvidenceList(BaseModel):
    """The events listed for one component or limit, and how many more matched (``more``).

    ``seen_as_of`` is set when the events were read at another instant than the score's: a
    carried component's value was measured as of its last signal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: list[Evidence] = []
    more: int = 0
    seen_as_of: datetime | None = None


@dataclass(frozen=True)
class ClientEvidence:
    """Per component id and per applied limit id, the events behind one client's score."""

    components: Mapping[str, EvidenceList]
    limits: Mapping[str, EvidenceList]


def evidence_of(
    scorecard: Scorecard,
    evaluation: Evaluation,
    signals: SignalSet,
    row: int,
    *,
    event_ids: Mapping[str, Sequence[str]] | None = None,
    limit: int = MAX_EVIDENCE,
) -> ClientEvidence:
    """The evidence of client ``row`` of ``evaluation``, which ``scorecard`` computed from
    ``signals``.

    ``event_ids`` gives, per kind, the event id of each row of ``signals.frame(kind)`` (in frame
    order); without it ``Evidence.event_id`` is None. Only applied limits get evidence.
    """
    sub, origin = _one_client(signals, row)
    at = epoch_seconds(evaluation.as_of)
    measurer = Measurer(sub, 1, at)
    specs = scorecard.components_for(evaluation.clients.segments[row])
    reader = _Reader(origin, event_ids or {}, limit)
    components: dict[str, EvidenceList] = {}
    for j, cid in enumerate(evaluation.component_ids):
        spec = specs[cid]
        carried = _carried_from(spec, measurer, evaluation, row, j)
        seen = measurer if carried is None else Measurer(sub, 1, carried)
        components[cid] = reader.read(
            seen, spec, _hurts_high(spec.curve), None if carried is None else _utc(carried)
        )
    limits: dict[str, EvidenceList] = {}
    for k, lim in enumerate(limits_of(scorecard)):
        if not evaluation.limit_applied[row, k]:
            continue
        op, _threshold = lim.when.comparison()
        inline = lim.when.measurement()
        measurement = inline if inline is not None else specs.get(lim.when.component or "")
        if measurement is not None:
            limits[lim.id] = reader.read(measurer, measurement, op in ("above", "at_least"))
    return ClientEvidence(components, limits)


def _one_client(signals: SignalSet, row: int) -> tuple[SignalSet, dict[str, IndexArray]]:
    """``signals`` cut down to client ``row`` (as client 0), and per kind the frame rows kept."""
    frames: dict[str, KindFrame] = {}
    origin: dict[str, IndexArray] = {}
    for kind, frame in signals.kinds.items():
        index = np.flatnonzero(frame.client == row)
        if len(index):
            # ``replace`` keeps whatever other columns the frame has (and its checks).
            frames[kind] = replace(frame.take(index), client=np.zeros(len(index), np.int32))
            origin[kind] = index
    pick = [row]
    stale = {k: np.asarray(v, dtype=np.bool_)[pick] for k, v in signals.stale.items()}
    covered = {k: np.asarray(v, dtype=np.bool_)[pick] for k, v in signals.covered.items()}
    return SignalSet(frames, stale, covered), origin


def _carried_from(
    spec: Component, measurer: Measurer, evaluation: Evaluation, row: int, column: int
) -> float | None:
    """The instant a carried component's value was measured at (its last signal), else None."""
    carried = (
        isinstance(spec.missing, Carry)
        and evaluation.status[row, column] == Status.STALE
        and not math.isnan(evaluation.points[row, column])
    )
    if not carried:
        return None
    last = float(measurer.last_seen(spec)[0])
    return None if math.isnan(last) else last


def _hurts_high(curve: Curve) -> bool:
    """Whether high values score fewer points than low ones (replies: yes; surveys: no)."""
    if curve.linear is not None:
        return curve.linear.best < curve.linear.worst
    if curve.points:
        return curve.points[0][1] > curve.points[-1][1]
    bands = curve.bands or ()
    return bool(bands) and bands[0].points > bands[-1].points


class _Reader:
    """Reads the evidence of measurements of one client (the sub-``SignalSet``'s client 0)."""

    def __init__(
        self, origin: Mapping[str, IndexArray], ids: Mapping[str, Sequence[str]], limit: int
    ) -> None:
        self._origin = origin
        self._ids = ids
        self._limit = limit

    def read(
        self,
        measurer: Measurer,
        m: Measurement,
        high_first: bool,
        seen_as_of: datetime | None = None,
    ) -> EvidenceList:
        """The events ``m`` ran over at ``measurer``'s instant, the deciding ones first."""
        view, values, keep = measurer.matching(m)
        chosen = np.arange(len(view)) if keep is None else np.flatnonzero(keep)
        if m.aggregate == "ratio" and m.numerator is not None:
            numerator = view.where_mask(m.numerator)
            if numerator is not None:
                chosen = chosen[numerator[chosen]]
        shown = values if values is not None else _own_figure(view)
        order = _order(m.aggregate, shown[chosen], view.column("ts")[chosen], high_first)
        size = LATEST_EVIDENCE if m.aggregate == "latest" else self._limit
        listed = [self._event(view, int(i), float(shown[i])) for i in chosen[order][:size]]
        return EvidenceList(
            events=listed, more=max(0, len(chosen) - len(listed)), seen_as_of=seen_as_of
        )

    def _event(self, view: EventView, i: int, value: float) -> Evidence:
        frame_row = i if view.rows is None else int(view.rows[i])
        origin = int(self._origin[view.kind][frame_row])
        ids = self._ids.get(view.kind)
        attrs = _attrs(view.frame, frame_row)
        end = float(view.column("end")[i])
        ts = float(view.column("ts")[i])
        return Evidence(
            event_id=ids[origin] if ids is not None and origin < len(ids) else None,
            kind=view.kind,
            ts=_utc(ts),
            end=None if math.isnan(end) else _utc(end),
            value=None if math.isnan(value) else value,
            attrs=attrs,
            why=_why(view, i, value, attrs),
        )


def _order(aggregate: str, values: FloatArray, ts: FloatArray, high_first: bool) -> IndexArray:
    """Positions of the events in the order they are listed; ties: newest first."""
    newest: IndexArray = np.lexsort((np.arange(len(ts)), -ts))
    if aggregate in ("count", "ratio", "latest", "trend"):
        return newest
    q = percentile_of(aggregate)
    if aggregate in ("max", "sum") or (q is not None and q >= 50):
        high = True
    elif aggregate == "min" or (q is not None and q < 50) or aggregate == "nps":
        high = False
    else:  # mean, median, a custom reading: the end of the curve that costs points
        high = high_first
    key = np.where(np.isnan(values), np.inf, -values if high else values)
    ordered: IndexArray = np.lexsort((-ts, key))
    return ordered


def _own_figure(view: EventView) -> FloatArray:
    """The number an event of the view stands for when its aggregate only counts it."""
    name = {"milestone": "late_days", "incident": "duration_hours"}.get(view.kind, "value")
    return view.measure(name)


def _attrs(frame: KindFrame, row: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, column in sorted(frame.attrs.items()):
        code = int(column.codes[row])
        if code >= 0:
            out[name] = column.categories[code]
    return out


def _why(view: EventView, i: int, value: float, attrs: Mapping[str, str]) -> str:
    """The event in a PM's words, as of the view's instant."""
    ts = _words(float(view.column("ts")[i]))
    end = float(view.column("end")[i])
    kind = view.kind
    if kind == "milestone":
        late = float(view.column("late_days")[i])
        name = attrs.get("name", "milestone")
        state = "still open" if math.isnan(end) else f"delivered {_words(end)}"
        lateness = f"{late:.1f} days late" if late > 0 else "on time"
        return f"{name!r} due {ts}, {state}: {lateness}"
    if kind == "incident":
        hours = float(view.column("duration_hours")[i])
        where = f" on {attrs['service']}" if "service" in attrs else ""
        state = (
            f"still open ({hours:.1f} h)"
            if math.isnan(end)
            else f"resolved {_words(end)} after {hours:.1f} h"
        )
        return f"{attrs.get('severity', 'incident')}{where}, opened {ts}, {state}"
    raw = float(view.column("value")[i])
    if kind == "survey":
        survey = f" ({attrs['survey']})" if "survey" in attrs else ""
        return f"answered {raw:g} on the {attrs.get('scale', 'nps')} scale{survey} at {ts}"
    if kind == "response_time":
        channel = f" by {attrs['channel']}" if "channel" in attrs else ""
        if attrs.get("open") == "true":  # a chat collector's unanswered message (chat.py)
            return f"{raw:.1f} h waited so far, no reply yet{channel}, to a message at {ts}"
        return f"{raw:.1f} h to our first reply{channel} to a message at {ts}"
    figure = "no value" if math.isnan(value) else f"{value:g}"
    return f"{figure} at {ts}"


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _words(epoch: float) -> str:
    return _utc(epoch).strftime("%Y-%m-%d %H:%M UTC")
