"""Why a client has its score: every component in words, the events behind it, what was missing,
caps, and what changed.

``explain`` turns one ``ClientScore`` into an ``Explanation``, a JSON-able model the API serves as
is; ``rapport.engine.explain_text.render_explanation`` prints it as plain text (CLI, alert emails).
Optional inputs add to it: the stored scores at least ``COMPARE_SPANS`` (7 and 30 days) before
(``earlier``: what moved the score since), the ``ClientEvidence`` of ``engine.evidence`` (the
concrete signals behind each component and limit), and one ``previous`` score for an explicit
comparison. Both are pure: the scorecard says what each component measures, the scores and
evidence say the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from rapport.engine.aggregate_table import aggregate_named
from rapport.engine.evidence import ClientEvidence, EvidenceList
from rapport.engine.model import (
    BUILTIN_KINDS,
    AttrMeasure,
    Carry,
    Component,
    Measurement,
    MissingPolicy,
    Neutral,
    Scorecard,
    WhereValue,
    parse_duration,
)
from rapport.engine.result import (
    AppliedLimit,
    ClientScore,
    ComponentScore,
    StatusName,
)

#: Limits closer than this to the score are taken to be what set it (float noise aside).
_BOUND_TOLERANCE = 1e-9
#: How many components "moved the score most" are listed in a change.
TOP_MOVERS = 3
#: How far back explain compares by default: the stored score at least this long before.
COMPARE_SPANS = ("7d", "30d")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComponentExplanation(_Model):
    """One component of the score, in words and numbers.

    ``weight_pct`` is the component's share of the score in percent (0 when it was skipped), so
    the contributions add up to the score before caps and floors. ``policy`` is set when the
    component lacked fresh data: what its missing-data policy did about it.
    """

    id: str
    description: str
    measured: str
    value: float | None
    points: float | None
    weight_pct: float
    contribution: float
    status: StatusName
    note: str | None
    policy: str | None
    evidence: EvidenceList | None = None


class LimitExplanation(_Model):
    """A cap or floor whose condition held; ``bound`` when it is what set the final score."""

    id: str
    kind: str
    limit: float
    reason: str
    bound: bool
    evidence: EvidenceList | None = None


class ComponentMove(_Model):
    """How much one component's contribution changed since the previous score (``before`` and
    ``after``), and its points then and now (None where it had none)."""

    id: str
    before: float
    after: float
    delta: float
    points_before: float | None = None
    points_after: float | None = None


class Change(_Model):
    """The difference from the previous score; ``score_delta`` is None when either is unscored.

    ``limits_added`` are the caps and floors that hold now and did not then, ``limits_removed``
    the reverse: a cap can move the score more than every component together."""

    previous_as_of: datetime
    previous_score: float | None
    previous_grade: str | None
    score_delta: float | None
    grade_changed: bool
    movers: list[ComponentMove]
    limits_added: list[str] = []
    limits_removed: list[str] = []


class Comparison(_Model):
    """The score against the stored one at least ``span`` (``"7d"``) before the explained instant,
    i.e. at or before ``cutoff``; ``change`` is None when the history does not reach that far."""

    span: str
    cutoff: datetime
    change: Change | None


class Explanation(_Model):
    """Everything a project manager needs to see why a client scores what it scores.

    ``unlimited_score`` is the weighted average before caps and floors (None when unscored).
    ``coverage`` is the share of the weight measured from signals (``covered`` names those
    components; None for a score stored before coverage existed) and ``min_coverage`` the
    scorecard's threshold. A client graded ``insufficient_data`` has no ``score``; its
    ``provisional_score`` is what the data there is would give, shown but not to be acted on.
    ``comparisons`` set the score against the stored ones 7 and 30 days before (``earlier``);
    ``change`` is the one explicit comparison (the API's ``compare``, default 7 days).
    """

    client: str
    as_of: datetime
    score: float | None
    grade: str | None
    rules_version: str
    segment: str | None
    unlimited_score: float | None
    coverage: float | None
    covered: list[str]
    min_coverage: float
    provisional_score: float | None
    components: list[ComponentExplanation]
    limits: list[LimitExplanation]
    change: Change | None
    comparisons: list[Comparison] = []


def explain(
    current: ClientScore,
    scorecard: Scorecard,
    previous: ClientScore | None = None,
    segment: str | None = None,
    *,
    earlier: Mapping[str, ClientScore | None] | None = None,
    evidence: ClientEvidence | None = None,
) -> Explanation:
    """Explain ``current`` using the components ``scorecard`` gives ``segment``.

    ``previous`` (an earlier score of the same client) adds the change since then. ``earlier``
    maps spans (``"7d"``, in ``COMPARE_SPANS`` order) to the stored score at least that long
    before ``current`` (None: no history that far back), each a ``Comparison``. ``evidence`` (of
    ``engine.evidence.evidence_of``, from the arrays ``current`` was computed from) lists the
    events behind each component and applied limit. A component in the score but not in the
    scorecard (the rules changed since) is described as unknown.
    """
    specs = scorecard.components_for(segment)
    unlimited = _unlimited_score(current)
    found = evidence.components if evidence is not None else {}
    components = [
        _component(cid, specs.get(cid), scored, scorecard).model_copy(
            update={"evidence": found.get(cid)}
        )
        for cid, scored in current.components.items()
    ]
    limits = [
        lim.model_copy(update={"evidence": evidence.limits.get(lim.id)})
        if evidence is not None
        else lim
        for lim in _limits(current.limits, unlimited, _bounded(current))
    ]
    return Explanation(
        client=current.client,
        as_of=current.as_of,
        score=current.score,
        grade=current.grade,
        rules_version=current.rules_version,
        segment=segment,
        unlimited_score=unlimited,
        coverage=current.coverage,
        covered=list(current.covered),
        min_coverage=scorecard.min_coverage,
        provisional_score=current.provisional_score,
        components=components,
        limits=limits,
        change=_change(current, previous) if previous is not None else None,
        comparisons=[
            _comparison(span, current, before) for span, before in (earlier or {}).items()
        ],
    )


def compare_cutoff(as_of: datetime, span: str) -> datetime:
    """The instant a score ``span`` earlier than ``as_of`` is at or before (ValueError, or
    OverflowError out of ``datetime``'s range, for an unusable span)."""
    return as_of - timedelta(seconds=parse_duration(span))


def _comparison(span: str, current: ClientScore, before: ClientScore | None) -> Comparison:
    cutoff = compare_cutoff(current.as_of, span)
    if before is not None and before.as_of > cutoff:
        before = None  # not that far back: never compare with a nearer score under this label
    change = None if before is None else _change(current, before)
    return Comparison(span=span, cutoff=cutoff, change=change)


def _bounded(score: ClientScore) -> float | None:
    """The score after caps and floors, provisional or not: what a limit may have set."""
    return score.provisional_score if score.insufficient else score.score


def _unlimited_score(score: ClientScore) -> float | None:
    """The weighted average before caps and floors: the sum of contributions, if anything scored."""
    if not any(c.weight > 0 for c in score.components.values()):
        return None
    return math.fsum(c.contribution for c in score.components.values())


def _component(
    cid: str, spec: Component | None, scored: ComponentScore, scorecard: Scorecard
) -> ComponentExplanation:
    policy = None
    if spec is not None and scored.status != "ok":
        policy = _policy_words(spec.missing, carried=scored.points is not None)
    return ComponentExplanation(
        id=cid,
        description=spec.description if spec is not None else "",
        measured=describe_measurement(spec, scorecard) if spec is not None else _UNKNOWN,
        value=scored.value,
        points=scored.points,
        weight_pct=scored.weight * 100.0,
        contribution=scored.contribution,
        status=scored.status,
        note=scored.note,
        policy=policy,
    )


_UNKNOWN = "not in the current scorecard"


def _policy_words(policy: MissingPolicy, *, carried: bool) -> str:
    """What a missing-data policy did, in words."""
    if isinstance(policy, Neutral):
        return f"neutral: scored {policy.neutral:g} points for lack of data"
    if isinstance(policy, Carry) and carried:
        return f"carry: reused the last measured value (at most {_span(policy.carry)} old)"
    suffix = ""
    if isinstance(policy, Carry):
        suffix = f" (nothing to carry within {_span(policy.carry)})"
    return f"skip: left out; its weight went to the other components{suffix}"


# --- measurements in words ---------------------------------------------------------------------

_MEASURE_WORDS = {
    ("response_time", "value"): "hours",
    ("survey", "value"): "answer",
    ("survey", "normalized"): "normalized (0-100)",
    ("milestone", "late_days"): "days late",
    ("incident", "duration_hours"): "hours open",
}


def describe_measurement(measurement: Measurement, scorecard: Scorecard) -> str:
    """``"p90 of response_time hours over 30d where channel in [email, ticket]"``.

    The words name the aggregate, the signal kind and measure, the window, the filter, the
    numerator of a ratio and a ``min_count`` above 1.
    """
    kind = measurement.signal
    measure = _measure_words(kind, measurement.measure, scorecard)
    aggregate = aggregate_named(measurement.aggregate)
    if aggregate is None:  # validation refuses it; say what the file says
        text = f"{measurement.aggregate} of {kind} {measure}"
    else:
        text = aggregate.describe(kind, measure)
    window = measurement.window
    text += f" over {_span(window)}" if window is not None else " over all history"
    if measurement.where:
        text += f" where {_where_words(measurement.where)}"
    if aggregate is not None and aggregate.numerator and measurement.numerator is not None:
        text += f" that are {_where_words(measurement.numerator)}"
    if measurement.min_count > 1:
        text += f" (at least {measurement.min_count} needed)"
    return text


def _span(seconds: float) -> str:
    """Seconds in the largest unit up to days that divides them: 14 days is ``14d``, not ``2w``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _measure_words(kind: str, measure: str | AttrMeasure, scorecard: Scorecard) -> str:
    if isinstance(measure, AttrMeasure):
        table = ", ".join(f"{key}={points:g}" for key, points in measure.map.items())
        return f"{measure.from_} weights ({table})"
    if kind not in BUILTIN_KINDS and measure == "value":
        declared = scorecard.signals.get(kind)
        return declared.unit if declared is not None and declared.unit else "value"
    return _MEASURE_WORDS.get((kind, measure), measure)


def _where_words(where: Mapping[str, WhereValue]) -> str:
    parts: list[str] = []
    for key, wanted in where.items():
        if isinstance(wanted, list):
            parts.append(f"{key} in [{', '.join(_scalar_words(v) for v in wanted)}]")
        elif isinstance(wanted, bool):
            parts.append(key if wanted else f"not {key}")
        else:
            parts.append(f"{key} = {_scalar_words(wanted)}")
    return " and ".join(parts)


def _scalar_words(value: str | bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


# --- caps, floors and change ---------------------------------------------------------------------


def _limits(
    applied: list[AppliedLimit], unlimited: float | None, score: float | None
) -> list[LimitExplanation]:
    """Each applied limit, and whether it is what set the final score.

    Floors act first, then caps (a cap wins). A floor binds when it raised the weighted average
    and the score stayed at its minimum; a cap binds when it lowered the floored score to its max.
    """
    floors = [lim.limit for lim in applied if lim.kind == "floor"]
    floored = None if unlimited is None else max([unlimited, *floors])
    out: list[LimitExplanation] = []
    for lim in applied:
        moved_from = unlimited if lim.kind == "floor" else floored
        bound = (
            score is not None
            and moved_from is not None
            and abs(score - lim.limit) <= _BOUND_TOLERANCE
            and (moved_from < lim.limit if lim.kind == "floor" else moved_from > lim.limit)
        )
        out.append(
            LimitExplanation(
                id=lim.id, kind=lim.kind, limit=lim.limit, reason=lim.reason, bound=bound
            )
        )
    return out


def _change(current: ClientScore, previous: ClientScore) -> Change:
    delta = None
    if current.score is not None and previous.score is not None:
        delta = current.score - previous.score
    moves: list[ComponentMove] = []
    for cid in dict.fromkeys([*current.components, *previous.components]):
        before = previous.components[cid].contribution if cid in previous.components else 0.0
        after = current.components[cid].contribution if cid in current.components else 0.0
        if before != after:
            moves.append(
                ComponentMove(
                    id=cid,
                    before=before,
                    after=after,
                    delta=after - before,
                    points_before=_points(previous, cid),
                    points_after=_points(current, cid),
                )
            )
    # Biggest first; ties keep scorecard order so the text is stable.
    moves.sort(key=lambda m: -abs(m.delta))
    now = {lim.id for lim in current.limits}
    then = {lim.id for lim in previous.limits}
    return Change(
        previous_as_of=previous.as_of,
        previous_score=previous.score,
        previous_grade=previous.grade,
        score_delta=delta,
        grade_changed=current.grade != previous.grade,
        movers=moves[:TOP_MOVERS],
        limits_added=[lim.id for lim in current.limits if lim.id not in then],
        limits_removed=[lim.id for lim in previous.limits if lim.id not in now],
    )


def _points(score: ClientScore, cid: str) -> float | None:
    found = score.components.get(cid)
    return None if found is None else found.points
