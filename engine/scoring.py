"""The vectorized scorer: a validated scorecard, the clients and their signal arrays in, an
``Evaluation`` out.

There is no loop over clients on the way: each component is measured once per distinct segment
variant over all clients (``engine.measure``), turned into points by its curve (``engine.curves``),
patched by its missing-data policy, and selected per client by segment. Weights are renormalised
per client over the components that have points, then floors and caps bound the score and the
grade is read from it. Coverage is the share of the (segment's) weight on components measured
from signals; below the scorecard's ``min_coverage`` a client is graded ``insufficient_data``
instead (``evaluation_of``). Loops run over components, variants and limits only. Notes are
written for the (few) client/component pairs that are not ``ok``.

``engine.reference`` computes the same thing in plain per-client loops; a property test holds the
two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from rapport.engine import notes
from rapport.engine.curves import apply_curve
from rapport.engine.errors import ScoringError
from rapport.engine.fields import epoch_seconds
from rapport.engine.frame import BoolArray, Categorical, ClientSet, FloatArray, SignalSet
from rapport.engine.measure import Measurer
from rapport.engine.model import Cap, Carry, Component, Floor, Grade, Neutral, Scale, Scorecard
from rapport.engine.result import Evaluation, Status

StatusArray = npt.NDArray[np.int8]

COMPARISONS: dict[str, Callable[[FloatArray, float], BoolArray]] = {
    "above": lambda values, threshold: values > threshold,
    "below": lambda values, threshold: values < threshold,
    "at_least": lambda values, threshold: values >= threshold,
    "at_most": lambda values, threshold: values <= threshold,
}


def evaluate(
    scorecard: Scorecard,
    clients: ClientSet,
    signals: SignalSet,
    as_of: datetime,
    rules_version: str,
    *,
    measurer: Measurer | None = None,
) -> Evaluation:
    """Score every client in ``clients`` as of ``as_of`` (timezone-aware, else ValueError).

    ``scorecard`` must be validated (``engine.validate``). Signals dated or recorded after ``as_of``
    are not seen, and deliveries or resolutions after it have not happened, so a past ``as_of``
    replays the score as it was known (``KindFrame`` states the rule). Pure: no IO, no clock, no
    global state. ``measurer`` (over ``signals``, as of ``as_of``) may be shared by evaluations of
    several scorecards at one instant: a measurement they have in common is computed once
    (``engine.replay`` compares two rulesets so).
    """
    at = epoch_seconds(as_of)
    if measurer is None:
        measurer = Measurer(signals, len(clients), at)
    elif measurer.signals is not signals or measurer.at != at or measurer.n_clients != len(clients):
        raise ValueError("a shared measurer must be over the same signals, clients and instant")
    component_ids = tuple(scorecard.components)
    table = _Table.empty(len(clients), len(component_ids))
    for column, variants in enumerate(_variants(scorecard, clients).values()):
        for component, rows in variants:
            outcome = _score_component(component, scorecard.scale, measurer, at, rows)
            table.put(column, rows, outcome, component.weight)
    share, score = _combine(table.points, table.weight)
    raw = np.ascontiguousarray(table.raw.T)  # the tables are built per component: see _Table
    applied = _conditions(scorecard, component_ids, raw, measurer)
    score = _bound(scorecard, score, applied)
    return evaluation_of(
        scorecard,
        clients,
        as_of,
        rules_version,
        score=score,
        grade=grade_index(scorecard.grades, score),
        coverage=coverage_of(table.base, table.status),
        raw=raw,
        points=np.ascontiguousarray(table.points.T),
        weight=np.ascontiguousarray(share.T),
        status=np.ascontiguousarray(table.status.T),
        notes=table.notes,
        applied=applied,
    )


def evaluation_of(
    scorecard: Scorecard,
    clients: ClientSet,
    as_of: datetime,
    rules_version: str,
    *,
    score: FloatArray,
    grade: npt.NDArray[np.int16],
    coverage: FloatArray,
    raw: FloatArray,
    points: FloatArray,
    weight: FloatArray,
    status: StatusArray,
    notes: dict[tuple[int, int], str],
    applied: BoolArray,
) -> Evaluation:
    """An ``Evaluation`` of these per-client arrays, labelled with the scorecard's component ids,
    grade names and limits (caps, then floors).

    ``score`` and ``grade`` are as bounded and graded from the points; here a client whose
    ``coverage`` is below ``min_coverage`` (strictly: exactly at it is enough) loses both — its
    score becomes NaN and its grade -1, flagged ``insufficient`` — and keeps the number only as
    ``provisional``. One home for the rule, so both scorers apply it alike."""
    limits = limits_of(scorecard)
    insufficient = coverage < scorecard.min_coverage
    return Evaluation(
        as_of=as_of,
        rules_version=rules_version,
        clients=clients,
        component_ids=tuple(scorecard.components),
        grade_names=tuple(g.name for g in scorecard.grades),
        score=np.where(insufficient, np.nan, score),
        grade=np.where(insufficient, -1, grade).astype(np.int16),
        provisional=score,
        coverage=coverage,
        insufficient=insufficient,
        raw=raw,
        points=points,
        weight=weight,
        status=status,
        notes=notes,
        limit_ids=tuple(limit.id for limit in limits),
        limit_kinds=tuple(_limit_kind(limit) for limit in limits),
        limit_values=np.array([c.max for c in scorecard.caps] + [f.min for f in scorecard.floors]),
        limit_reasons=tuple(limit.reason for limit in limits),
        limit_applied=applied,
    )


def limits_of(scorecard: Scorecard) -> tuple[Cap | Floor, ...]:
    """Caps, then floors, in file order: the column order of ``Evaluation.limit_*``."""
    return (*scorecard.caps, *scorecard.floors)


def _limit_kind(limit: Cap | Floor) -> Literal["cap", "floor"]:
    return "cap" if isinstance(limit, Cap) else "floor"


def grade_index(grades: tuple[Grade, ...], score: FloatArray) -> npt.NDArray[np.int16]:
    """Per score, the index (in file order) of the grade with the highest ``min`` at or below it;
    -1 for NaN or a score below every grade. Equal ``min``s resolve to the first in the file, as
    the reference's ``_grade`` does."""
    mins = np.array([g.min for g in grades], dtype=np.float64)
    order = np.lexsort((-np.arange(len(grades)), mins))  # ascending min; among equals, first last
    found = np.searchsorted(mins[order], score, side="right") - 1
    ok = (found >= 0) & ~np.isnan(score)
    return np.where(ok, order[np.clip(found, 0, None)], -1).astype(np.int16)


# --- one component --------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """A component variant over all clients; ``notes`` only for the rows that use the variant."""

    raw: FloatArray
    points: FloatArray
    status: StatusArray
    notes: dict[int, str]


def _score_component(
    component: Component, scale: Scale, measurer: Measurer, at: float, rows: BoolArray
) -> _Outcome:
    measured = measurer.measure(component)
    stale = _stale(measurer.signals, component.signal, measurer.n_clients)
    raw = np.where(stale, np.nan, measured.value)
    missing = np.isnan(raw)
    points = apply_curve(component.curve, scale, raw)
    status = np.where(stale, Status.STALE, np.where(missing, Status.MISSING, Status.OK))
    outcome = _Outcome(raw, points, status.astype(np.int8), {})

    def reason(row: int) -> str:
        return notes.stale_source(component.signal) if stale[row] else measured.reason(row)

    policy = component.missing
    todo = np.flatnonzero(missing & rows).tolist()
    if isinstance(policy, Neutral):
        points[missing] = np.clip(policy.neutral, scale.min, scale.max)
        outcome.notes = {r: notes.neutral(reason(r), policy.neutral) for r in todo}
    elif isinstance(policy, Carry):
        carried = _carry(
            component,
            policy=policy,
            scale=scale,
            measurer=measurer,
            at=at,
            missing=missing & rows,  # only the clients of this variant use its carried values
            outcome=outcome,
        )
        kind = component.signal
        outcome.notes = {
            r: notes.carried(carried[r], at - carried[r], kind if stale[r] else None)
            if not np.isnan(carried[r])
            else reason(r)
            for r in todo
        }
    else:
        outcome.notes = {r: reason(r) for r in todo}
    return outcome


def _carry(
    component: Component,
    *,
    policy: Carry,
    scale: Scale,
    measurer: Measurer,
    at: float,
    missing: BoolArray,
    outcome: _Outcome,
) -> FloatArray:
    """Re-measure the missing clients as of their last signal, if it is at most ``policy.carry``
    old; patch ``outcome`` in place and return the instants carried from (NaN where not)."""
    last = measurer.as_of_each(np.where(missing, at, np.nan)).last_seen(component)
    eligible = missing & (at - last <= policy.carry)  # NaN (no signal at all) compares False
    if not eligible.any():
        return np.full(len(last), np.nan)
    at_last = np.where(eligible, last, np.nan)
    again = measurer.as_of_each(at_last).measure(component).value
    done = eligible & ~np.isnan(again)
    outcome.raw[done] = again[done]
    outcome.points[done] = apply_curve(component.curve, scale, again)[done]
    outcome.status[done] = Status.STALE
    return np.where(done, last, np.nan)


def _stale(signals: SignalSet, kind: str, size: int) -> BoolArray:
    flags = signals.stale.get(kind)
    return np.zeros(size, dtype=np.bool_) if flags is None else np.asarray(flags, dtype=np.bool_)


# --- variants, table, score -----------------------------------------------------------------------


def _variants(
    scorecard: Scorecard, clients: ClientSet
) -> dict[str, list[tuple[Component, BoolArray]]]:
    """Per component id, each distinct resolved spec and the clients (by segment) that use it."""
    segments = Categorical.from_values(clients.segments)
    names: list[str | None] = [*segments.categories, None]  # code -1 (no segment) reads the last
    resolved = [scorecard.components_for(name) for name in names]
    variants: dict[str, list[tuple[Component, BoolArray]]] = {}
    for cid in scorecard.components:
        # Equal specs (frozen models compare by value) are one variant: a handful of segments,
        # so a linear scan beats serialising each spec into a key.
        by_spec: list[tuple[Component, list[int]]] = []
        for index, components in enumerate(resolved):
            spec = components[cid]
            found = next((indexes for seen, indexes in by_spec if seen == spec), None)
            if found is None:
                by_spec.append((spec, [index]))
            else:
                found.append(index)
        variants[cid] = []
        for spec, indexes in by_spec:
            lut = np.zeros(len(names), dtype=np.bool_)
            lut[indexes] = True
            rows = lut[segments.codes]
            if rows.any():
                variants[cid].append((spec, rows))
    return variants


@dataclass
class _Table:
    """Per component and client: raw value, points, weight before renormalisation (0 without
    points), the segment's weight whatever the points (``base``), status.

    Components × clients, the transpose of ``Evaluation``'s tables: a component's values are
    then one contiguous row to write, and sums over components add whole rows (``_combine``,
    ``coverage_of``), 2-4× faster than over rows of 4 numbers; ``evaluate`` transposes once."""

    raw: FloatArray
    points: FloatArray
    weight: FloatArray
    base: FloatArray
    status: StatusArray
    notes: dict[tuple[int, int], str] = field(default_factory=dict)

    @classmethod
    def empty(cls, clients: int, components: int) -> _Table:
        shape = (components, clients)
        return cls(
            np.full(shape, np.nan),
            np.full(shape, np.nan),
            np.zeros(shape),
            np.zeros(shape),
            np.full(shape, Status.OK, dtype=np.int8),
        )

    def put(self, column: int, rows: BoolArray, outcome: _Outcome, weight: float) -> None:
        pick = slice(None) if rows.all() else rows  # one variant for all: plain column copies
        self.raw[column, pick] = outcome.raw[pick]
        self.points[column, pick] = outcome.points[pick]
        self.weight[column, pick] = np.where(np.isnan(outcome.points[pick]), 0.0, weight)
        self.base[column, pick] = weight
        self.status[column, pick] = outcome.status[pick]
        self.notes.update({(row, column): text for row, text in outcome.notes.items()})


#: Scores are rounded to this many decimals before limits and grades.
SCORE_DECIMALS = 9


def _combine(points: FloatArray, weight: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Weights renormalised per client over components with points, and the weighted score (NaN
    for a client with no points, or only zero weights, to share). Components × clients tables
    in, the shares likewise."""
    total = component_sums(weight)
    has = total > 0
    share = np.where(has, weight / np.where(has, total, 1.0), 0.0)  # 2× a masked divide's speed
    # points are NaN or within the scale (never ±inf), so this is nan_to_num at a third the cost
    known = np.where(np.isnan(points), 0.0, points)
    score = np.where(has, component_sums(share * known), np.nan)
    # Weighted sums of round numbers land a hair off (59.99999999999999): rounding keeps such a
    # score on the grade boundary it is meant to reach.
    return share, np.asarray(np.round(score, SCORE_DECIMALS), dtype=np.float64)


def component_sums(table: FloatArray) -> FloatArray:
    """Per client, the sum over the components of a components × clients ``table``: bit for bit
    numpy's ``sum(axis=1)`` of the clients × components table (``Evaluation``'s layout).

    numpy sums a row of fewer than 8 numbers by adding each in turn (pairwise summation starts
    at 8, and only along the fast axis), so adding whole component rows in turn gives the very
    same floats, without a call per 4-number row. More components, where the orders differ, are
    summed by numpy in that layout; ``tests/engine/test_scoring.py`` holds the two equal.
    """
    components = table.shape[0]
    if not 0 < components < 8:
        return np.asarray(np.ascontiguousarray(table.T).sum(axis=1), dtype=np.float64)
    total: FloatArray = table[0] + 0.0  # numpy starts from +0.0, so a -0.0 alone sums to +0.0
    for row in table[1:]:
        total += row
    return total


def coverage_of(base: FloatArray, status: StatusArray) -> FloatArray:
    """Per client, the share of its (segment's) weight ``base`` on components with status ok:
    measured from signals, not neutral, carried or stale. 0 for a client whose weights are all
    zero. Rounded like scores, so 45/90 is exactly on a ``min_coverage`` of 0.5. Components ×
    clients tables in (``_Table``)."""
    total = component_sums(base)
    ok = component_sums(np.where(status == Status.OK, base, 0.0))
    share = np.divide(ok, total, out=np.zeros_like(total), where=total > 0)
    return np.asarray(np.round(share, SCORE_DECIMALS), dtype=np.float64)


def _conditions(
    scorecard: Scorecard, component_ids: tuple[str, ...], raw: FloatArray, measurer: Measurer
) -> BoolArray:
    """Per client, whether each cap then each floor condition holds (missing data: it does not)."""
    limits = limits_of(scorecard)
    held = np.zeros((raw.shape[0], len(limits)), dtype=np.bool_)
    for k, limit in enumerate(limits):
        when = limit.when
        inline = when.measurement()
        if inline is not None:
            values = measurer.measure(inline).value
        elif when.component in component_ids:
            values = raw[:, component_ids.index(when.component)]
        else:
            raise ScoringError(f"limit {limit.id!r}", f"no component {when.component!r}")
        op, threshold = when.comparison()
        held[:, k] = COMPARISONS[op](values, threshold)
    return held


def _bound(scorecard: Scorecard, score: FloatArray, held: BoolArray) -> FloatArray:
    """Floors first, then caps, so a cap wins over a floor; NaN stays NaN (np.maximum keeps it)."""
    first_floor = len(scorecard.caps)
    for k, floor in enumerate(scorecard.floors):
        score = np.where(held[:, first_floor + k], np.maximum(score, floor.min), score)
    for k, cap in enumerate(scorecard.caps):
        score = np.where(held[:, k], np.minimum(score, cap.max), score)
    return score
