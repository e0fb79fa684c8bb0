"""Builders for scorer tests: events written as "client, days before AS_OF", scorecards as dicts.

Imported by the scorer's test modules (a module name of its own, so it cannot clash with another
directory's ``conftest``); the ``score`` fixture in ``conftest.py`` runs both implementations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from rapport.engine.frame import Categorical, ClientSet, KindFrame, SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.result import Evaluation

DAY = 86400.0
HOUR = 3600.0
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
AT = AS_OF.timestamp()
NAN = math.nan

GRADES = [
    {"name": "healthy", "min": 75, "color": "green"},
    {"name": "watch", "min": 50, "color": "orange"},
    {"name": "at_risk", "min": 0, "color": "red"},
]
#: A curve that passes raw values 0..100 straight through as points.
IDENTITY = {"points": [[0, 0], [100, 100]]}


def ago(days: float) -> float:
    """Epoch seconds ``days`` before ``AS_OF`` (negative: after it)."""
    return AT - days * DAY


@dataclass(frozen=True)
class Ev:
    """One event: ``client`` row, times as days before ``AS_OF`` (``end`` None = open,
    ``recorded`` None = known from its ``ts``)."""

    client: int
    days: float
    value: float = NAN
    end: float | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    recorded: float | None = None


def ev(
    client: int,
    days: float,
    value: float = NAN,
    end: float | None = None,
    recorded: float | None = None,
    **attrs: str,
) -> Ev:
    return Ev(client, days, value, end, attrs, recorded)


def frame(events: Iterable[Ev]) -> KindFrame:
    rows = list(events)
    names = sorted({name for e in rows for name in e.attrs})
    return KindFrame(
        client=np.array([e.client for e in rows], dtype=np.int32),
        ts=np.array([ago(e.days) for e in rows], dtype=np.float64),
        end=np.array([NAN if e.end is None else ago(e.end) for e in rows], dtype=np.float64),
        value=np.array([e.value for e in rows], dtype=np.float64),
        attrs={n: Categorical.from_values(e.attrs.get(n) for e in rows) for n in names},
        recorded=np.array([NAN if e.recorded is None else ago(e.recorded) for e in rows])
        if any(e.recorded is not None for e in rows)
        else None,
    )


def signal_set(
    n_clients: int,
    stale: Mapping[str, Sequence[int]] | None = None,
    covered: Mapping[str, Sequence[int]] | None = None,
    **kinds: Iterable[Ev],
) -> SignalSet:
    """Frames per kind from events; ``stale`` lists the client rows whose source is stale,
    ``covered`` those a fresh collector of the kind maps."""
    frames = {kind: frame(events) for kind, events in kinds.items()}
    return SignalSet(frames, masks_of(n_clients, stale), masks_of(n_clients, covered))


def masks_of(n_clients: int, rows_by_kind: Mapping[str, Sequence[int]] | None) -> dict[str, Any]:
    """``{kind: client rows}`` as ``{kind: boolean mask over the clients}``."""
    masks = {}
    for kind, rows in (rows_by_kind or {}).items():
        mask = np.zeros(n_clients, dtype=np.bool_)
        mask[list(rows)] = True
        masks[kind] = mask
    return masks


def card(
    components: Mapping[str, Mapping[str, Any]],
    **rest: Any,
) -> Scorecard:
    """A scorecard of ``components`` (each defaulting to weight 1 and the identity curve)."""
    filled = {cid: {"weight": 1, "curve": IDENTITY, **spec} for cid, spec in components.items()}
    body = {"version": 1, "grades": GRADES, "components": filled, **rest}
    return Scorecard.model_validate(body)


def clients(n: int, segments: Sequence[str | None] | None = None) -> ClientSet:
    return ClientSet.of([f"c{i}" for i in range(n)], segments)


Score = Callable[..., Evaluation]


def raw_of(
    score: Score, scorecard: Scorecard, signals: SignalSet, n: int, **kw: Any
) -> list[float]:
    """The first component's raw value per client."""
    return [float(v) for v in score(scorecard, signals, n, **kw).raw[:, 0]]


def same(actual: Sequence[float], expected: Sequence[float]) -> bool:
    """Element-wise equal within 1e-9, NaN equal to NaN."""
    return bool(np.allclose(actual, expected, rtol=1e-9, atol=1e-9, equal_nan=True))
