"""The rules language, version 1: what a scorecard YAML file may say, as frozen pydantic models.

This module checks *shape* only (types, required keys, no unknown keys, one curve per component).
Meaning — unknown signal kinds or attributes, band gaps, unreachable grades — is checked by
``engine.validate`` so that every problem is reported with its file position in one pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

# Re-exported for modules that read the kinds through the rules model; their home is engine.kinds.
from rapport.engine.kinds import BUILTIN_KINDS as BUILTIN_KINDS  # noqa: PLC0414
from rapport.engine.kinds import OUTCOME_KIND as OUTCOME_KIND  # noqa: PLC0414
from rapport.engine.kinds import OUTCOME_TYPES as OUTCOME_TYPES  # noqa: PLC0414
from rapport.engine.kinds import KindSpec as KindSpec  # noqa: PLC0414
from rapport.engine.kinds import scale_bounds as scale_bounds  # noqa: PLC0414

SUPPORTED_VERSIONS = (1,)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> float:
    """``"30d"`` → seconds. Units: s, m, h, d, w; a bare number is rejected, not guessed at."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            if seconds > 0:
                return seconds
    raise ValueError("expected a duration such as 30d, 12h or 2w")


def format_duration(seconds: float) -> str:
    """Seconds → the shortest exact unit (``2592000`` → ``"30d"``)."""
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


#: How a duration is written, for JSON Schema (``rapport rules schema``): the parser's own pattern.
DURATION_SCHEMA = {
    "type": "string",
    "pattern": _DURATION.pattern,
    "description": "a duration such as 30d, 12h or 2w (units: s, m, h, d, w)",
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_SCHEMA)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Scalar = str | bool | int | float
WhereValue = Scalar | list[Scalar]


class Spec(BaseModel):
    """Base of every rules model: immutable, and an unknown key is an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --- the signal kinds a scorecard can read: their table is ``engine.kinds`` (imported above) ---


class SignalDecl(Spec):
    """A custom numeric signal kind (e.g. ``overdue_invoices``) and its filterable attributes.

    Under a built-in kind's name, an entry with only ``attrs`` adds attributes its sources carry
    beyond the kind's own (``milestone: {attrs: [phase]}``) to those a ``where`` may filter on;
    under ``outcome``, ``types`` adds outcome types (``outcome: {types: [downsell]}``).
    """

    description: str = ""
    unit: str = ""
    attrs: tuple[Identifier, ...] = ()
    #: Under ``outcome`` only: the team's own outcome types (``downsell``), beyond the built-in
    #: ``renewed``, ``churned`` and ``escalated``; import and ingest refuse any other.
    types: tuple[Identifier, ...] = ()


# --- what a component measures -------------------------------------------------------------------


class AttrMeasure(Spec):
    """Per-event number looked up from a string attribute, e.g. incident severity → points."""

    from_: str = Field(alias="from")
    map: dict[str, float]


class Measurement(Spec):
    """A number per client: the ``aggregate`` of ``measure`` over matching signals in ``window``.

    ``window`` absent means all history up to ``as_of``. Signals dated after ``as_of`` are never
    seen, so a past ``as_of`` reproduces the score as it was.
    """

    signal: str
    where: dict[str, WhereValue] = Field(default_factory=dict)
    measure: str | AttrMeasure = "value"
    #: A name in ``engine.aggregate_table`` (checked by validation, which lists the known ones).
    aggregate: str
    window: Duration | None = None
    numerator: dict[str, WhereValue] | None = None
    min_count: int = Field(default=1, ge=1)


# --- scoring curves -------------------------------------------------------------------------------


#: A band's lower-bound keys and whether each includes its value; ``min`` is ``at_least``.
LOWER_BOUND_KEYS = {"min": True, "at_least": True, "above": False}
#: A band's upper-bound keys and whether each includes its value; ``max`` is ``below``.
UPPER_BOUND_KEYS = {"max": False, "below": False, "at_most": True}


@dataclass(frozen=True)
class Interval:
    """The values a band holds: ``low`` to ``high``, each end included when its flag says so.

    An absent bound is infinite (``-inf`` included, ``inf`` excluded, as ``[min, max)`` always had).
    """

    low: float
    low_closed: bool
    high: float
    high_closed: bool

    def holds(self, value: float) -> bool:
        """Whether ``value`` is in the interval (the plain, one-value reading of the bounds)."""
        above_low = value >= self.low if self.low_closed else value > self.low
        below_high = value <= self.high if self.high_closed else value < self.high
        return above_low and below_high


class Band(Spec):
    """Values between one lower and one upper bound score ``points``; an absent bound is open.

    Lower: ``min`` or ``at_least`` (value included) or ``above`` (excluded). Upper: ``max`` or
    ``below`` (value excluded) or ``at_most`` (included). ``{min: 4, max: 24}`` is ``[4, 24)``,
    ``{above: 0.2, at_most: 0.5}`` is ``(0.2, 0.5]``.
    """

    min: float | None = None
    at_least: float | None = None
    above: float | None = None
    max: float | None = None
    below: float | None = None
    at_most: float | None = None
    points: float

    @model_validator(mode="after")
    def _one_bound_per_end(self) -> Band:
        for keys, end in ((LOWER_BOUND_KEYS, "lower"), (UPPER_BOUND_KEYS, "upper")):
            written = [k for k in keys if getattr(self, k) is not None]
            if len(written) > 1:
                raise ValueError(
                    f"a band has one {end} bound: {', '.join(keys)} (got {', '.join(written)})"
                )
        return self

    def lower_key(self) -> str | None:
        """The lower-bound key written, or None for a band open below."""
        return next((k for k in LOWER_BOUND_KEYS if getattr(self, k) is not None), None)

    def upper_key(self) -> str | None:
        """The upper-bound key written, or None for a band open above."""
        return next((k for k in UPPER_BOUND_KEYS if getattr(self, k) is not None), None)

    def interval(self) -> Interval:
        """The values this band holds, whichever keys wrote its bounds."""
        low_key, high_key = self.lower_key(), self.upper_key()
        return Interval(
            -math.inf if low_key is None else float(getattr(self, low_key)),
            True if low_key is None else LOWER_BOUND_KEYS[low_key],
            math.inf if high_key is None else float(getattr(self, high_key)),
            False if high_key is None else UPPER_BOUND_KEYS[high_key],
        )


class Linear(Spec):
    """``best`` or better scores the scale's max, ``worst`` or worse its min, linear in between."""

    best: float
    worst: float

    @model_validator(mode="after")
    def _distinct(self) -> Linear:
        if self.best == self.worst:
            raise ValueError("best and worst must differ")
        return self


class Curve(Spec):
    """Exactly one of ``bands``, ``points`` (piecewise-linear ``[value, points]``) or ``linear``."""

    bands: tuple[Band, ...] | None = None
    points: tuple[tuple[float, float], ...] | None = None
    linear: Linear | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Curve:
        chosen = [k for k in ("bands", "points", "linear") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("a curve needs exactly one of: bands, points, linear")
        return self


# --- missing data ---------------------------------------------------------------------------------


class Neutral(Spec):
    """Missing data scores this many points (and keeps its weight)."""

    neutral: float


class Carry(Spec):
    """Missing data reuses the value measured at the last signal if at most ``carry`` old."""

    carry: Duration


MissingPolicy = Literal["skip"] | Neutral | Carry


class Component(Measurement):
    """One scored aspect of a relationship: a measurement, its curve and its weight."""

    description: str = ""
    weight: float = Field(ge=0)
    curve: Curve
    missing: MissingPolicy = "skip"


class ComponentOverride(Spec):
    """A segment's partial replacement of a component; unset keys keep the base value."""

    signal: str | None = None
    where: dict[str, WhereValue] | None = None
    measure: str | AttrMeasure | None = None
    aggregate: str | None = None
    window: Duration | None = None
    numerator: dict[str, WhereValue] | None = None
    min_count: int | None = Field(default=None, ge=1)
    description: str | None = None
    weight: float | None = Field(default=None, ge=0)
    curve: Curve | None = None
    missing: MissingPolicy | None = None


# --- caps and floors ------------------------------------------------------------------------------


class Condition(Spec):
    """When a cap or floor applies: a component's raw value, or an inline measurement, compared.

    Exactly one comparison (``above``, ``below``, ``at_least``, ``at_most``). A condition over
    missing data is false: a cap never fires on data we do not have.
    """

    component: str | None = None
    signal: str | None = None
    where: dict[str, WhereValue] = Field(default_factory=dict)
    measure: str | AttrMeasure = "value"
    aggregate: str | None = None
    window: Duration | None = None
    numerator: dict[str, WhereValue] | None = None
    min_count: int = Field(default=1, ge=1)
    above: float | None = None
    below: float | None = None
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_source_one_comparison(self) -> Condition:
        if (self.component is None) == (self.signal is None):
            raise ValueError("a condition names either a component or a signal, not both")
        if self.signal is not None and self.aggregate is None:
            raise ValueError("a condition on a signal needs an aggregate")
        comparisons = ("above", "below", "at_least", "at_most")
        compared = [k for k in comparisons if getattr(self, k) is not None]
        if len(compared) != 1:
            raise ValueError("a condition needs exactly one of: above, below, at_least, at_most")
        return self

    def measurement(self) -> Measurement | None:
        """The inline measurement, or None when the condition reads a component."""
        if self.signal is None or self.aggregate is None:
            return None
        # Fields are already validated (and ``window`` already parsed into seconds, which
        # ``Duration`` would refuse to parse again), so construct without re-validating.
        return Measurement.model_construct(
            signal=self.signal,
            where=self.where,
            measure=self.measure,
            aggregate=self.aggregate,
            window=self.window,
            numerator=self.numerator,
            min_count=self.min_count,
        )

    def comparison(self) -> tuple[str, float]:
        for op in ("above", "below", "at_least", "at_most"):
            threshold = getattr(self, op)
            if threshold is not None:
                return op, float(threshold)
        raise AssertionError("validated Condition has a comparison")


class Cap(Spec):
    """While ``when`` holds, the score is at most ``max``; ``reason`` is shown in explanations."""

    id: Identifier
    reason: str = Field(min_length=1)
    when: Condition
    max: float


class Floor(Spec):
    """While ``when`` holds, the score is at least ``min``."""

    id: Identifier
    reason: str = Field(min_length=1)
    when: Condition
    min: float


# --- the scorecard --------------------------------------------------------------------------------


class Scale(Spec):
    min: float = 0.0
    max: float = 100.0

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.min >= self.max:
            raise ValueError("scale.min must be below scale.max")
        return self


class Grade(Spec):
    """Scores at or above ``min`` (and below the next grade's ``min``) get this grade."""

    name: Identifier
    min: float
    color: str = Field(pattern=r"^(#[0-9a-fA-F]{6}|[a-z]+)$")


class Segment(Spec):
    """Per-segment overrides of the base scorecard (e.g. enterprise weighs responsiveness more)."""

    description: str = ""
    weights: dict[str, float] = Field(default_factory=dict)
    components: dict[str, ComponentOverride] = Field(default_factory=dict)


class Scorecard(Spec):
    """A whole ``scorecard.yaml``: scale, grades, components, caps, floors and segment overrides."""

    version: int
    name: str = "default"
    description: str = ""
    scale: Scale = Field(default_factory=Scale)
    grades: tuple[Grade, ...] = Field(min_length=1)
    signals: dict[Identifier, SignalDecl] = Field(default_factory=dict)
    components: dict[Identifier, Component] = Field(min_length=1)
    caps: tuple[Cap, ...] = ()
    floors: tuple[Floor, ...] = ()
    segments: dict[str, Segment] = Field(default_factory=dict)
    #: Below this share of its weight measured from signals (``ClientScore.coverage``), a client
    #: is graded ``insufficient_data`` instead of from its score. 0: every score is graded.
    min_coverage: float = Field(default=0.0, ge=0.0, le=1.0)

    def kind_spec(self, kind: str) -> KindSpec | None:
        """What a rule may say about ``kind``; None for a kind neither built in nor declared."""
        declared = self.signals.get(kind)
        builtin = BUILTIN_KINDS.get(kind)
        if builtin is not None:
            if declared is None:
                return builtin
            extra = tuple(a for a in declared.attrs if a not in (*builtin.attrs, *builtin.flags))
            return replace(builtin, attrs=(*builtin.attrs, *extra))
        return KindSpec(attrs=declared.attrs) if declared is not None else None

    def outcome_types(self) -> tuple[str, ...]:
        """The outcome types signals may carry: the built-in ones, then those declared."""
        declared = self.signals.get(OUTCOME_KIND)
        extra = () if declared is None else declared.types
        return (*OUTCOME_TYPES, *(t for t in extra if t not in OUTCOME_TYPES))

    def components_for(self, segment: str | None) -> dict[str, Component]:
        """The components as a client of ``segment`` sees them (base merged with its overrides)."""
        override = self.segments.get(segment) if segment is not None else None
        if override is None:
            return dict(self.components)
        merged: dict[str, Component] = {}
        for cid, base in self.components.items():
            changes: dict[str, Any] = {}
            patch = override.components.get(cid)
            if patch is not None:
                changes = {k: getattr(patch, k) for k in patch.model_fields_set}
            if cid in override.weights:
                changes["weight"] = override.weights[cid]
            merged[cid] = base.model_copy(update=changes) if changes else base
        return merged
