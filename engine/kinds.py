"""The built-in signal kinds as the rules language sees them: the one engine-side table of kinds.

A kind's *payload* (its fields, their types, which become the stored row's ``ts``/``end``/``value``)
is declared once, next to its pydantic model in ``signals.model``; the engine cannot import that
module, so what a rule may say about a kind lives here. ``signals.model`` checks at import that
each model's attribute fields are exactly the ``attrs`` declared here, so the two cannot drift.
How flags and measures are computed is ``engine.fields``' business (its tests check that every one
named here is computable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: What an aggregate can run over for a kind with nothing of its own (custom kinds).
PLAIN_MEASURES = ("value", "age_days")


@dataclass(frozen=True)
class KindSpec:
    """What a rule may say about one signal kind.

    ``attrs`` are the string attributes a ``where`` can filter on; ``flags`` are booleans computed
    as of the evaluation time (usable in ``where`` and as a 0/1 ``measure``); ``measures`` are the
    numeric fields an aggregate can run over.
    """

    attrs: tuple[str, ...]
    flags: tuple[str, ...] = ()
    measures: tuple[str, ...] = PLAIN_MEASURES


BUILTIN_KINDS: Mapping[str, KindSpec] = {
    "response_time": KindSpec(attrs=("channel", "thread")),
    "milestone": KindSpec(
        attrs=("name", "project"),
        flags=("missed", "delivered", "open"),
        measures=("late_days", "age_days"),
    ),
    "survey": KindSpec(
        attrs=("scale", "survey"),
        flags=("promoter", "passive", "detractor"),
        measures=("value", "normalized", "age_days"),
    ),
    "incident": KindSpec(
        attrs=("severity", "service"),
        flags=("open", "resolved"),
        measures=("duration_hours", "age_days"),
    ),
    # What became of the relationship (renewed, churned, escalated, or a team's own type): what
    # ``rapport validate`` measures scores against. No shipped component reads it; a rule may.
    "outcome": KindSpec(attrs=("type", "deal")),
}

#: The outcome types every scorecard knows; a scorecard declares more under
#: ``signals: {outcome: {types: [...]}}``. The first two are a renewal decision's answers.
OUTCOME_TYPES = ("renewed", "churned", "escalated")
OUTCOME_KIND = "outcome"


def known_kinds(declared: Iterable[str]) -> list[str]:
    """Every kind a scorecard can read: the built-in ones, then its declared custom ones."""
    return [*BUILTIN_KINDS, *(k for k in declared if k not in BUILTIN_KINDS)]


_SCALE_RANGE = re.compile(r"^(-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?)$")
NAMED_SCALES = {"nps": (0.0, 10.0), "csat": (1.0, 5.0)}


def scale_bounds(scale: str) -> tuple[float, float]:
    """``"nps"`` → (0, 10), ``"csat"`` → (1, 5), ``"1..7"`` → (1, 7)."""
    if scale in NAMED_SCALES:
        return NAMED_SCALES[scale]
    match = _SCALE_RANGE.match(scale)
    if match and float(match.group(1)) < float(match.group(2)):
        return float(match.group(1)), float(match.group(2))
    raise ValueError(f"unknown survey scale {scale!r} (use nps, csat or a range such as 1..7)")
