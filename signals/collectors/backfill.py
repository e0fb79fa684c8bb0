"""How much history a collector's first run must read: the longest window the scorecard reads for
each signal kind.

A first run (no cursor) that reads less than the scorecard looks at scores the missing part as
"no events" — Zendesk's default 90 days and PagerDuty's 30 stored 62 of 97 tickets and 13 of 42
incidents of a 120-day history. ``kind_windows`` is a pure function over the scorecard: per kind,
the longest of

- every component's ``window`` (base and segment overrides; an override without a window keeps
  the base one), plus its ``carry`` when the missing-data policy carries a value (a value carried
  ``carry`` back was measured over the window before it);
- every cap's and floor's inline measurement ``window``.

No window means all history up to ``as_of``; a collector cannot read "everything" from a source
with a lookback parameter, so it counts as ``ALL_HISTORY`` (365 days): a year holds any
open incident or late milestone a PM still acts on, and PagerDuty, IMAP and Zendesk all page
through a year in minutes. A collector's own ``backfill:`` setting overrides the derived value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rapport.engine.model import Carry, Component, ComponentOverride, Condition, Scorecard

#: The history "all of it" means for a first run: 365 days (see the module docstring).
ALL_HISTORY = 365 * 86400.0


def kind_windows(scorecard: Scorecard) -> dict[str, float]:
    """Signal kind → seconds of history the scorecard reads for it (see the module docstring)."""
    needed: dict[str, float] = {}
    for kind, seconds in _component_windows(scorecard):
        needed[kind] = max(needed.get(kind, 0.0), seconds)
    conditions = [cap.when for cap in scorecard.caps] + [floor.when for floor in scorecard.floors]
    for condition in conditions:
        if condition.signal is not None:
            seconds = _window(condition)
            needed[condition.signal] = max(needed.get(condition.signal, 0.0), seconds)
    return needed


def window_for(kinds: Iterable[str], windows: Mapping[str, float]) -> float | None:
    """The longest of ``windows`` over ``kinds``; None when the scorecard reads none of them."""
    found = [windows[kind] for kind in kinds if kind in windows]
    return max(found) if found else None


def _component_windows(scorecard: Scorecard) -> Iterable[tuple[str, float]]:
    for component in scorecard.components.values():
        yield component.signal, _window(component) + _carried(component.missing)
    for segment in scorecard.segments.values():
        for name, override in segment.components.items():
            base = scorecard.components.get(name)
            if base is not None:
                yield _overridden(base, override)


def _overridden(base: Component, override: ComponentOverride) -> tuple[str, float]:
    signal = override.signal or base.signal
    window = override.window if override.window is not None else base.window
    missing = override.missing if override.missing is not None else base.missing
    return signal, (ALL_HISTORY if window is None else window) + _carried(missing)


def _window(measured: Component | Condition) -> float:
    return ALL_HISTORY if measured.window is None else float(measured.window)


def _carried(missing: object) -> float:
    return float(missing.carry) if isinstance(missing, Carry) else 0.0
