"""The short human reasons the scorer attaches to components that are not ``ok``.

Both the vectorized scorer and its plain reference word their notes here, so the two agree to the
letter and an explanation reads the same whichever produced it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from rapport.engine.model import format_duration


@cache  # a few distinct (count, needed, window) words thousands of notes
def no_data(count: int, needed: int, window: float | None) -> str:
    """Why an aggregate is missing: no matching signals at all, or fewer than it needs."""
    if count == 0:
        return f"no signals in the {format_duration(window)} window" if window else "no signals"
    return f"{count} signal{'s' if count != 1 else ''}, {needed} needed"


@cache
def no_source(kind: str, window: float | None) -> str:
    """No events, and nothing says a source of ``kind`` covers the client: not a measured zero."""
    where = f" in the {format_duration(window)} window" if window else ""
    return f"no {kind} signals{where}, and no source known to cover this client"


def flat_trend() -> str:
    """A trend over signals that all share one instant has no slope."""
    return "all signals at one instant; a trend needs two"


def stale_source(kind: str) -> str:
    return f"source for {kind} is stale"


@cache
def neutral(reason: str, points: float) -> str:
    """The missing policy ``neutral`` stood in for the data ``reason`` explains."""
    return f"no data: neutral {points:g} ({reason})"


def carried(t_last: float, age_seconds: float, stale_kind: str | None = None) -> str:
    """A value measured as of the last signal at ``t_last``, ``age_seconds`` before ``as_of``."""
    day = datetime.fromtimestamp(t_last, UTC).date().isoformat()
    age = (
        f"{int(age_seconds // 86400)}d" if age_seconds >= 86400 else f"{int(age_seconds // 3600)}h"
    )
    stale = f"; {stale_source(stale_kind)}" if stale_kind else ""
    return f"carried from {day} ({age} old{stale})"
