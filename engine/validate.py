"""The meaning pass over a shape-valid scorecard: every problem pydantic cannot see, all at once.

Each check yields ``Issue`` values whose ``loc`` is relative to the part being checked; the caller
prefixes it and turns it into a ``Finding`` at the position of the offending key. Checks never
stop at the first problem, so one ``rapport rules check`` run lists everything to fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from rapport.engine.aggregate_table import (
    AGGREGATE_NAMES,
    Aggregate,
    aggregate_named,
    listing,
    takes_numerator,
)
from rapport.engine.errors import Finding
from rapport.engine.model import (
    BUILTIN_KINDS,
    LOWER_BOUND_KEYS,
    OUTCOME_KIND,
    OUTCOME_TYPES,
    UPPER_BOUND_KEYS,
    AttrMeasure,
    Band,
    Component,
    Condition,
    Curve,
    KindSpec,
    Measurement,
    Neutral,
    Scale,
    Scorecard,
    WhereValue,
)
from rapport.engine.result import INSUFFICIENT_DATA
from rapport.engine.yamlsource import format_key

Loc = tuple[str | int, ...]
Locate = Callable[[Sequence[str | int]], tuple[int, int]]


@dataclass(frozen=True)
class Issue:
    """One semantic problem, located relative to the checked part."""

    loc: Loc
    message: str
    hint: str | None = None

    def under(self, prefix: Loc) -> Issue:
        return Issue((*prefix, *self.loc), self.message, self.hint)


# --- did you mean ---------------------------------------------------------------------------------


def _normalized(word: str) -> str:
    # Letter O for zero and l for one are the usual slips in names like p90 or p1.
    return word.lower().replace("o", "0").replace("l", "1").replace("-", "_")


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word`` (ties: the earlier one), or None when none is close."""
    target = _normalized(word)
    best: tuple[float, str] | None = None
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, target, _normalized(candidate)).ratio()
        if ratio >= cutoff and (best is None or ratio > best[0]):
            best = ratio, candidate
    return best[1] if best else None


def unknown_outcome_type(value: object, known: Sequence[str]) -> str | None:
    """Why an outcome of type ``value`` is refused (None: ``known`` has it, or it is no string,
    which the signal's own validation reports): an undeclared type is a typo, mostly, and an
    outcome no question asks about would be stored and never read."""
    if not isinstance(value, str) or value in known:
        return None
    close = did_you_mean(value, known)
    hint = f"did you mean {close!r}? or" if close else f"known: {_names(known)};"
    return (
        f"type: unknown outcome type {value!r} "
        f"({hint} declare it under signals: outcome: {{types: [{value}]}} in the scorecard)"
    )


def _names(values: Iterable[str]) -> str:
    return ", ".join(values)


def _suggest(word: str, candidates: Sequence[str], listing: str) -> str:
    """``did you mean 'x'?`` when something is close, else the full list of valid names."""
    close = did_you_mean(word, candidates)
    return f"did you mean {close!r}?" if close else f"{listing}: {_names(candidates)}"


def _num(value: float) -> str:
    return f"{value:g}"


# --- measurements ---------------------------------------------------------------------------------


def _kinds(sc: Scorecard) -> list[str]:
    return [*BUILTIN_KINDS, *(k for k in sc.signals if k not in BUILTIN_KINDS)]


def _filterable(kind: str, spec: KindSpec) -> str:
    flags = f"; flags {_names(spec.flags)}" if spec.flags else ""
    return f"{kind} signals can be filtered on {_names(spec.attrs) or 'no attributes'}{flags}"


def _check_filter(
    kind: str, spec: KindSpec, where: Mapping[str, WhereValue], key: str
) -> Iterator[Issue]:
    """``where`` / ``numerator``: known attributes and flags, and flags compared with true/false."""
    for name, value in where.items():
        if name in spec.flags:
            if not isinstance(value, bool):
                yield Issue(
                    (key, name), f"{name!r} is a yes/no flag, not {value!r}", "use true or false"
                )
        elif name not in spec.attrs:
            close = did_you_mean(name, [*spec.attrs, *spec.flags])
            hint = f"did you mean {close!r}? " if close else ""
            yield Issue((key, name), f"unknown attribute {name!r}", hint + _filterable(kind, spec))


def _check_measure(kind: str, spec: KindSpec, measure: str | AttrMeasure) -> Iterator[Issue]:
    if isinstance(measure, AttrMeasure):
        if measure.from_ not in spec.attrs:
            hint = _suggest(measure.from_, spec.attrs, f"{kind} signals have the attributes")
            yield Issue(
                ("measure", "from"),
                f"{measure.from_!r} is not an attribute of {kind} signals",
                hint,
            )
        return
    valid = [*spec.measures, *spec.flags]
    if measure not in valid:
        close = did_you_mean(measure, valid)
        flags = f"; or a flag counted as 0/1: {_names(spec.flags)}" if spec.flags else ""
        listing = f"{kind} signals measure {_names(spec.measures)}{flags}"
        hint = f"did you mean {close!r}? {listing}" if close else listing
        yield Issue(("measure",), f"unknown measure {measure!r} for {kind} signals", hint)


def _check_aggregate(kind: str | None, m: Measurement) -> Iterator[Issue]:
    aggregate = aggregate_named(m.aggregate)
    if aggregate is None:
        close = did_you_mean(m.aggregate, AGGREGATE_NAMES)
        hint = f"aggregates: {listing()}"
        yield Issue(("aggregate",), f"unknown aggregate {m.aggregate!r}", _with_guess(close, hint))
    elif aggregate.numerator and m.numerator is None:
        hint = "add numerator: with the filter the counted signals must match, e.g. {missed: true}"
        yield Issue(("aggregate",), f"aggregate {m.aggregate!r} needs a numerator", hint)
    elif kind is not None and not _works_on(aggregate, kind):
        assert aggregate.kinds is not None
        hint = f"this measurement reads {kind} signals"
        kinds = " or ".join(aggregate.kinds)
        message = f"aggregate {m.aggregate!r} works only on {kinds} signals"
        yield Issue(("aggregate",), message, hint)
    if m.numerator is not None and (aggregate is None or not aggregate.numerator):
        names = takes_numerator()
        quoted = " or ".join(repr(n) for n in names)
        hint = f"use aggregate: {' or '.join(names)}, or remove numerator"
        yield Issue(
            ("numerator",),
            f"numerator applies only to aggregate {quoted}, not {m.aggregate!r}",
            hint,
        )


def _with_guess(close: str | None, hint: str) -> str:
    return f"did you mean {close!r}? {hint}" if close else hint


def _works_on(aggregate: Aggregate, kind: str) -> bool:
    return aggregate.kinds is None or kind in aggregate.kinds


def _reads_measure(m: Measurement) -> bool:
    """Whether ``m``'s measure means something to check: an aggregate that counts never reads
    it, and one on a kind it does not work on is already reported, so the default ``value`` is
    fine there even for kinds without one (milestones, incidents)."""
    aggregate = aggregate_named(m.aggregate)
    if m.measure != "value" or aggregate is None:
        return True
    return not aggregate.counts and _works_on(aggregate, m.signal)


def check_measurement(sc: Scorecard, m: Measurement) -> Iterator[Issue]:
    """Signal kind, ``where``, ``measure``, ``aggregate`` and ``numerator`` of one measurement."""
    spec = sc.kind_spec(m.signal)
    if spec is None:
        close = did_you_mean(m.signal, _kinds(sc))
        hint = f"did you mean {close!r}? " if close else f"known kinds: {_names(_kinds(sc))}; "
        yield Issue(
            ("signal",), f"unknown signal kind {m.signal!r}", hint + "or declare it under signals:"
        )
    else:
        yield from _check_filter(m.signal, spec, m.where, "where")
        if _reads_measure(m):
            yield from _check_measure(m.signal, spec, m.measure)
        if m.numerator is not None:
            yield from _check_filter(m.signal, spec, m.numerator, "numerator")
    yield from _check_aggregate(m.signal if spec is not None else None, m)


# --- curves ---------------------------------------------------------------------------------------


def _outside(scale: Scale, value: float) -> bool:
    return not scale.min <= value <= scale.max


def _scale_text(scale: Scale) -> str:
    return f"the scale is {_num(scale.min)}..{_num(scale.max)}"


def _band_text(band: Band) -> str:
    """A band's values in words: ``below 4``, ``at most 0.2``, ``[4, 24)``, ``(0.2, 0.5]``."""
    iv = band.interval()
    low, high = band.lower_key() is not None, band.upper_key() is not None
    if not low:
        if not high:
            return "every value"
        return f"{'at most' if iv.high_closed else 'below'} {_num(iv.high)}"
    if not high:
        return f"{_num(iv.low)} and above" if iv.low_closed else f"above {_num(iv.low)}"
    opening, closing = "[" if iv.low_closed else "(", "]" if iv.high_closed else ")"
    return f"{opening}{_num(iv.low)}, {_num(iv.high)}{closing}"


def _empty(band: Band) -> bool:
    """Whether no value is in the band; ``{at_least: 1, at_most: 1}`` holds exactly 1."""
    iv = band.interval()
    return iv.low > iv.high or (iv.low == iv.high and not (iv.low_closed and iv.high_closed))


def _empty_hint(band: Band) -> str:
    low, high = band.lower_key(), band.upper_key()
    if low is not None and high is not None and LOWER_BOUND_KEYS[low] and UPPER_BOUND_KEYS[high]:
        return f"{low} must not be above {high}"
    return f"{low} must be below {high}"


def _check_band_bounds(bands: Sequence[Band], scale: Scale) -> Iterator[Issue]:
    last = len(bands) - 1
    for i, band in enumerate(bands):
        if _empty(band):
            yield Issue((i,), f"band {_band_text(band)} is empty", _empty_hint(band))
        if band.lower_key() is None and i > 0:
            hint = "set min to where the band before it ends"
            yield Issue((i,), "only the first band may leave out min", hint)
        if band.upper_key() is None and i < last:
            hint = "set max to where the band after it starts"
            yield Issue((i,), "only the last band may leave out max", hint)
        if _outside(scale, band.points):
            yield Issue(
                (i, "points"),
                f"{_num(band.points)} points is outside the scale",
                _scale_text(scale),
            )


def _check_band_order(bands: Sequence[Band]) -> Iterator[Issue]:
    """Consecutive bands must touch: every value up to the last band's end is in exactly one band.

    Where two bands meet at a value, exactly one of them may hold it: ``at_most: 0.2`` then
    ``above: 0.2`` (or ``max: 0.2`` then ``min: 0.2``) is contiguous; both holding it overlaps,
    neither holding it leaves a gap of that one value.
    """
    for i in range(1, len(bands)):
        prev, band = bands[i - 1], bands[i]
        if prev.upper_key() is None or band.lower_key() is None or _empty(prev) or _empty(band):
            continue  # reported by _check_band_bounds; comparing with it would only add noise
        before, after = prev.interval(), band.interval()
        if prev.lower_key() is not None and after.low < before.low:
            hint = "list bands from the lowest values to the highest"
            yield Issue(
                (i,),
                f"bands are out of order: {_band_text(band)} comes after {_band_text(prev)}",
                hint,
            )
        elif after.low < before.high:
            yield Issue((i,), f"bands overlap: {_band_text(prev)} and {_band_text(band)}")
        elif after.low > before.high:
            opening = "(" if before.high_closed else "["
            closing = "]" if not after.low_closed else ")"
            gap = f"{opening}{_num(before.high)}, {_num(after.low)}{closing}"
            yield Issue((i,), f"gap between bands: nothing scores values in {gap}")
        elif before.high_closed and after.low_closed:
            message = f"bands overlap at {_num(after.low)}: both {_band_text(prev)} and "
            yield Issue((i,), message + f"{_band_text(band)} hold it")
        elif not before.high_closed and not after.low_closed:
            hint = f"use at_most: {_num(after.low)} in the band before, or at_least: in this one"
            message = f"gap between bands: nothing scores the value {_num(after.low)}"
            yield Issue((i,), message, hint)


def check_curve(curve: Curve, scale: Scale) -> Iterator[Issue]:
    """Bands sorted, contiguous and inside the scale; points increasing and inside the scale."""
    if curve.bands is not None:
        if not curve.bands:
            yield Issue(("bands",), "no bands", "add at least one band")
        for issue in (*_check_band_bounds(curve.bands, scale), *_check_band_order(curve.bands)):
            yield issue.under(("bands",))
    if curve.points is not None:
        if len(curve.points) < 2:
            yield Issue(
                ("points",), "a points curve needs at least 2 points", "e.g. [[0, 100], [48, 0]]"
            )
        for i, (x, y) in enumerate(curve.points):
            if i > 0 and x <= curve.points[i - 1][0]:
                prev = _num(curve.points[i - 1][0])
                hint = "list points by increasing value"
                yield Issue(("points", i), f"value {_num(x)} does not come after {prev}", hint)
            if _outside(scale, y):
                yield Issue(
                    ("points", i), f"{_num(y)} points is outside the scale", _scale_text(scale)
                )


def check_component(sc: Scorecard, component: Component) -> Iterator[Issue]:
    """Everything about one component except its weight (weights are judged together)."""
    yield from check_measurement(sc, component)
    for issue in check_curve(component.curve, sc.scale):
        yield issue.under(("curve",))
    missing = component.missing
    if isinstance(missing, Neutral) and _outside(sc.scale, missing.neutral):
        message = f"neutral {_num(missing.neutral)} is outside the scale"
        yield Issue(("missing", "neutral"), message, _scale_text(sc.scale))


# --- grades ---------------------------------------------------------------------------------------


def check_grades(sc: Scorecard, locate: Locate) -> Iterator[Issue]:
    """Names unique and not reserved, every grade reachable, and every score on the scale graded."""
    seen_names: dict[str, int] = {}
    seen_mins: dict[float, str] = {}
    for i, grade in enumerate(sc.grades):
        if grade.name == INSUFFICIENT_DATA:
            message = f"grade name {grade.name!r} is reserved"
            hint = "Rapport gives it to clients below min_coverage; pick another name"
            yield Issue((i, "name"), message, hint)
        if grade.name in seen_names:
            first = locate(("grades", seen_names[grade.name], "name"))[0]
            yield Issue((i, "name"), f"duplicate grade {grade.name!r}", f"first at line {first}")
        else:
            seen_names[grade.name] = i
        if grade.min in seen_mins:
            other = seen_mins[grade.min]
            hint = "give each grade a different min"
            yield Issue(
                (i, "min"), f"grade {grade.name!r} is never given: {other!r} has the same min", hint
            )
        else:
            seen_mins[grade.min] = grade.name
        if grade.min > sc.scale.max:
            message = (
                f"grade {grade.name!r} is never given: min {_num(grade.min)} is above the scale"
            )
            yield Issue((i, "min"), message, _scale_text(sc.scale))
    lowest = min(range(len(sc.grades)), key=lambda i: sc.grades[i].min)
    low = sc.grades[lowest].min
    if low > sc.scale.min:
        hint = f"lower the min of {sc.grades[lowest].name!r} to {_num(sc.scale.min)}"
        yield Issue((lowest, "min"), f"scores below {_num(low)} have no grade", hint)


# --- caps and floors ------------------------------------------------------------------------------


_MEASUREMENT_KEYS = ("where", "measure", "aggregate", "window", "numerator", "min_count")


def _check_condition(sc: Scorecard, when: Condition) -> Iterator[Issue]:
    if when.component is not None:
        if when.component not in sc.components:
            hint = _suggest(when.component, list(sc.components), "components")
            yield Issue(("component",), f"unknown component {when.component!r}", hint)
        # These keys would be silently ignored: a component condition reads the component's value.
        for key in _MEASUREMENT_KEYS:
            if key in when.model_fields_set:
                hint = "a condition on a component reads its value; to filter signals use signal:"
                yield Issue((key,), f"{key!r} does not apply to a condition on a component", hint)
    measurement = when.measurement()
    if measurement is not None:
        yield from check_measurement(sc, measurement)


def check_caps_floors(sc: Scorecard, locate: Locate) -> Iterator[Issue]:
    """Ids unique across caps and floors, conditions meaningful, limits inside the scale."""
    first_line: dict[str, int] = {}
    limits = [("caps", i, c.id, c.when, "max", c.max) for i, c in enumerate(sc.caps)]
    limits += [("floors", i, f.id, f.when, "min", f.min) for i, f in enumerate(sc.floors)]
    for section, i, rule_id, when, bound, limit in limits:
        if rule_id in first_line:
            hint = f"first at line {first_line[rule_id]}; caps and floors share ids"
            yield Issue((section, i, "id"), f"duplicate id {rule_id!r}", hint)
        else:
            first_line[rule_id] = locate((section, i, "id"))[0]
        for issue in _check_condition(sc, when):
            yield issue.under((section, i, "when"))
        if _outside(sc.scale, limit):
            yield Issue(
                (section, i, bound),
                f"{bound} {_num(limit)} is outside the scale",
                _scale_text(sc.scale),
            )


# --- weights and segments -------------------------------------------------------------------------


_ZERO_HINT = "give at least one component a weight above 0"


def _all_zero(components: Mapping[str, Component]) -> bool:
    return all(c.weight == 0 for c in components.values())


def _check_segment_ids(sc: Scorecard, name: str) -> Iterator[Issue]:
    segment = sc.segments[name]
    known = list(sc.components)
    for section, ids in (("weights", segment.weights), ("components", segment.components)):
        for cid in ids:
            if cid not in sc.components:
                yield Issue(
                    (section, cid), f"unknown component {cid!r}", _suggest(cid, known, "components")
                )
    for cid, weight in segment.weights.items():
        if weight < 0:
            yield Issue(
                ("weights", cid), f"weight {_num(weight)} is negative", "weights are 0 or more"
            )


def _check_segment(sc: Scorecard, name: str, base: Mapping[str, set[Issue]]) -> Iterator[Issue]:
    """A segment's unknown ids, and its merged components where they differ from the base."""
    yield from _check_segment_ids(sc, name)
    segment = sc.segments[name]
    merged = sc.components_for(name)
    for cid in segment.components:
        if cid in merged:
            for issue in check_component(sc, merged[cid]):
                if issue not in base[cid]:  # the base problem is already reported at the base
                    yield issue.under(("components", cid))
    touched = bool(segment.weights) or any(
        p.weight is not None for p in segment.components.values()
    )
    if _all_zero(merged) and touched:
        yield Issue((), f"every component has weight 0 for segment {name!r}", _ZERO_HINT)


# --- the whole scorecard --------------------------------------------------------------------------


def _check_declared_signals(sc: Scorecard) -> Iterator[Issue]:
    """A built-in kind's name may only add ``attrs`` (attributes beyond its own, e.g. a
    milestone's ``phase``), and ``outcome`` also ``types``: anything else would redefine the
    kind. ``types`` belongs to ``outcome`` alone."""
    for name, declared in sc.signals.items():
        builtin = BUILTIN_KINDS.get(name)
        if declared.types and name != OUTCOME_KIND:
            hint = "outcome types are declared under signals: outcome: {types: [...]}"
            yield Issue((name, "types"), f"types applies only to outcome, not {name!r}", hint)
        if builtin is None:
            continue
        allowed = {"attrs", "types"} if name == OUTCOME_KIND else {"attrs"}
        if declared.model_fields_set - allowed or not (declared.attrs or declared.types):
            hint = (
                f"pick another name, or give the built-in kind only "
                f"{' or '.join(sorted(allowed))}: to filter on; "
                f"built-in kinds are {_names(BUILTIN_KINDS)}"
            )
            yield Issue((name,), f"custom signal {name!r} shadows the built-in kind", hint)
            continue
        own = (*builtin.attrs, *builtin.flags)
        for position, attr in enumerate(declared.attrs):
            if attr in own:
                hint = f"{name} signals can already be filtered on it; remove it from attrs"
                yield Issue((name, "attrs", position), f"{attr!r} is {name}'s own", hint)
        yield from _check_outcome_types(declared.types)


def _check_outcome_types(types: Sequence[str]) -> Iterator[Issue]:
    """Declared outcome types: none built in, none twice."""
    seen: set[str] = set()
    for position, kind in enumerate(types):
        loc = (OUTCOME_KIND, "types", position)
        if kind in OUTCOME_TYPES:
            hint = f"built-in types are {_names(OUTCOME_TYPES)}; remove it from types"
            yield Issue(loc, f"outcome type {kind!r} is built in", hint)
        elif kind in seen:
            yield Issue(loc, f"outcome type {kind!r} is declared twice")
        seen.add(kind)


def scorecard_issues(sc: Scorecard, locate: Locate) -> Iterator[Issue]:
    """Every semantic issue of ``sc``, located by absolute key path."""
    for issue in _check_declared_signals(sc):
        yield issue.under(("signals",))
    base: dict[str, set[Issue]] = {}
    for cid, component in sc.components.items():
        base[cid] = set(check_component(sc, component))
        for issue in sorted(base[cid], key=lambda i: format_key(i.loc)):
            yield issue.under(("components", cid))
    if _all_zero(sc.components):
        yield Issue(("components",), "every component has weight 0", _ZERO_HINT)
    for issue in check_grades(sc, locate):
        yield issue.under(("grades",))
    yield from check_caps_floors(sc, locate)
    for name in sc.segments:
        for issue in _check_segment(sc, name, base):
            yield issue.under(("segments", name))


def validate_scorecard(sc: Scorecard, locate: Locate, *, path: str = "") -> list[Finding]:
    """All semantic problems of a shape-valid scorecard, each at the position of the offending key.

    ``locate`` maps a key path to its 1-based (line, column) in the file (see
    ``engine.yamlsource.Locator.locate``); ``path`` is the file name put in each finding. An empty
    list means the scorecard means something the scorer can evaluate.
    """
    findings = []
    for issue in scorecard_issues(sc, locate):
        line, column = locate(issue.loc)
        findings.append(
            Finding(path, line, column, format_key(issue.loc), issue.message, issue.hint)
        )
    return sorted(set(findings))
