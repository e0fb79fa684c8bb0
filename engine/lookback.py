"""How far back a scorecard can read: per signal kind, the oldest events an evaluation looks at.

An evaluation as of ``at`` reads an event of a windowed measurement only when ``at - window <
ts``; a component that carries a missing value re-measures as of the client's last signal, at
most ``carry`` before ``at``, so it reaches ``carry + window`` back. A measurement without a
window reads all history — unless every such measurement of the kind counts only events still
open (``open: true``, or ``delivered``/``resolved: false``): then an older event matters only
while it is open. Two all-history reads remain for every kind: whether a client has ever had a
signal of the kind (``Measurer.known``: no events then is a measured zero for ``count`` and
``sum``) and its last matching signal for a carry, which can only be carried from within the
reach. ``KindReach.anchor`` says the first is needed; one stand-in event per client older than
the reach answers it (``anchor_frame`` in the store's loader).

The store loads each kind from ``at - reach`` on (plus the open and anchor rows), and the
property test ``tests/signals/test_bounded_load.py`` holds that load's scores equal to the full
load's. Pure: a scorecard in, numbers out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from rapport.engine.aggregate_table import aggregate_named
from rapport.engine.fields import where_texts
from rapport.engine.model import Carry, Measurement, Scorecard, WhereValue

#: Per kind, the flag value that means "still open" in a ``where``.
_OPEN_WHEN = {
    "milestone": {"open": "true", "delivered": "false"},
    "incident": {"open": "true", "resolved": "false"},
}


@dataclass(frozen=True)
class KindReach:
    """What an evaluation reads of one kind: events with ``ts > at - seconds`` (``seconds`` None:
    all history), older events still open when ``open_before``, and one stand-in per client with
    an older event when ``anchor``."""

    seconds: float | None
    open_before: bool = False
    anchor: bool = False

    @property
    def bounded(self) -> bool:
        return self.seconds is not None


def _only_open(kind: str, where: Mapping[str, WhereValue]) -> bool:
    """Whether ``where`` lets through only events open as of the instant."""
    wanted = _OPEN_WHEN.get(kind, {})
    return any(
        name in wanted and where_texts(value) == {wanted[name]} for name, value in where.items()
    )


def _measurements(scorecard: Scorecard) -> Iterator[tuple[Measurement, float]]:
    """Every measurement any client's evaluation makes, with how far before ``at`` it is made
    (its carry; 0 for one measured as of ``at`` only)."""
    segments: list[str | None] = [None, *scorecard.segments]
    for segment in segments:
        for component in scorecard.components_for(segment).values():
            carry = component.missing.carry if isinstance(component.missing, Carry) else 0.0
            yield component, carry
    conditions = [cap.when for cap in scorecard.caps] + [f.when for f in scorecard.floors]
    for condition in conditions:
        inline = condition.measurement()
        if inline is not None:
            yield inline, 0.0


def reach_of(scorecard: Scorecard) -> dict[str, KindReach]:
    """Per signal kind the scorecard reads, how far back (see the module docstring). Kinds it
    never reads are absent: an evaluation needs none of their events."""
    reach: dict[str, float | None] = {}
    open_before: dict[str, bool] = {}
    anchor: dict[str, bool] = {}
    for m, carry in _measurements(scorecard):
        kind = m.signal
        found = aggregate_named(m.aggregate)
        anchor[kind] = anchor.get(kind, False) or (found is not None and found.zero_when_empty)
        if m.window is None:
            if carry == 0.0 and _only_open(kind, m.where):
                open_before[kind] = True
                reach.setdefault(kind, 0.0)
            else:
                reach[kind] = None
            continue
        if kind in reach and reach[kind] is None:
            continue
        reach[kind] = max(reach.get(kind) or 0.0, m.window + carry)
    return {
        kind: KindReach(
            seconds,
            open_before=seconds is not None and open_before.get(kind, False),
            anchor=seconds is not None and anchor[kind],
        )
        for kind, seconds in reach.items()
    }
