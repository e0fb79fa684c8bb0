"""An explanation as plain text, one fact per line, for a terminal, the API's ``format=text`` and
alert emails: the headline, coverage, each component with the events behind it, the caps and
floors, and the comparisons with earlier stored scores. Only words and numbers: the explanation
itself (``rapport.engine.explain``) decides what is true."""

from __future__ import annotations

from datetime import UTC, datetime

from rapport.engine.evidence import EvidenceList
from rapport.engine.explain import Change, Comparison, ComponentExplanation, Explanation
from rapport.engine.model import parse_duration
from rapport.engine.result import INSUFFICIENT_DATA


def render_explanation(explanation: Explanation) -> str:
    """The explanation as plain text, one fact per line, for a terminal or an email."""
    coverage = _coverage_line(explanation)
    lines = [_headline(explanation), *([] if coverage is None else [coverage]), ""]
    lines += _component_lines(explanation.components)
    lines += _limit_lines(explanation)
    if explanation.comparisons:
        lines.append("")
        for comparison in explanation.comparisons:
            lines += _comparison_lines(comparison, explanation)
    change = explanation.change
    compared = {c.change.previous_as_of for c in explanation.comparisons if c.change is not None}
    if change is not None and change.previous_as_of not in compared:
        lines += ["", *_change_lines(change, explanation)]
    return "\n".join(lines)


def _headline(e: Explanation) -> str:
    if e.grade == INSUFFICIENT_DATA:
        provisional = "" if e.provisional_score is None else f"{e.provisional_score:.1f}, "
        score = f"insufficient data (provisional {provisional}not graded)"
        grade = ""
    else:
        score = "no score (no component had data)" if e.score is None else f"{e.score:.1f}"
        grade = f" ({e.grade})" if e.grade is not None else ""
    segment = f", segment {e.segment}" if e.segment is not None else ""
    return f"{e.client}: {score}{grade} as of {_when(e.as_of)}, rules {e.rules_version}{segment}"


def _coverage_line(e: Explanation) -> str | None:
    """``Coverage: 40% of the weight measured (responsiveness, stability); at least 50% needed``."""
    if e.coverage is None:
        return None
    which = f" ({', '.join(e.covered)})" if e.covered else ""
    need = ""
    if e.min_coverage > 0:
        below = " - below it, too little is known to grade" if e.grade == INSUFFICIENT_DATA else ""
        need = f"; at least {e.min_coverage:.0%} needed{below}"
    return f"Coverage: {e.coverage:.0%} of the weight measured{which}{need}"


def _component_lines(components: list[ComponentExplanation]) -> list[str]:
    width = max((len(c.id) for c in components), default=0)
    lines = ["Components (points x weight = contribution):"]
    for c in components:
        if c.points is None or c.weight_pct == 0:
            figures = "left out"
        else:
            figures = f"{c.points:.1f} x {c.weight_pct:.1f}% = {c.contribution:.1f}"
        status = c.status if c.note is None else f"{c.status}: {c.note}"
        lines.append(f"  {c.id:<{width}}  {figures}  [{status}]")
        if c.description:
            lines.append(f"      {c.description}")
        value = "no value" if c.value is None else _number(c.value)
        lines.append(f"      {c.measured}: {value}")
        if c.policy is not None:
            lines.append(f"      missing data -> {c.policy}")
        lines += _evidence_lines(c.evidence)
    return lines


def _evidence_lines(evidence: EvidenceList | None) -> list[str]:
    """``      - i-77: sev1 on payments, opened 2026-11-15 08:00 UTC, still open (111.9 h)``."""
    if evidence is None or not evidence.events:
        return []
    lines = []
    if evidence.seen_as_of is not None:
        lines.append(f"      read as of {_when(evidence.seen_as_of)}:")
    for event in evidence.events:
        ident = f"{event.event_id}: " if event.event_id is not None else ""
        lines.append(f"      - {ident}{event.why}")
    if evidence.more:
        lines.append(f"      ... and {evidence.more} more")
    return lines


def _limit_lines(e: Explanation) -> list[str]:
    if not e.limits:
        return []
    average = "none" if e.unlimited_score is None else f"{e.unlimited_score:.1f}"
    lines = ["", f"Caps and floors (weighted average {average}):"]
    for lim in e.limits:
        effect = "set the score" if lim.bound else "held, but did not set the score"
        lines.append(f"  {lim.id} ({lim.kind} at {lim.limit:g}): {effect}")
        lines.append(f"      {lim.reason}")
        lines += _evidence_lines(lim.evidence)
    return lines


def _comparison_lines(comparison: Comparison, e: Explanation) -> list[str]:
    """One comparison: the score and grade then and now, and the components that moved it."""
    span = _span_words(comparison.span)
    if comparison.change is None:
        return [f"{span} before: no stored score at or before {_when(comparison.cutoff)}"]
    change = comparison.change
    head, *movers = _change_lines(change, e)
    stored = head.removeprefix(f"Since {_when(change.previous_as_of)}")
    return [f"{span} before (stored {_when(change.previous_as_of)}){stored}", *movers]


def _span_words(span: str) -> str:
    """``"7d"`` → ``"7 days"``; a span that is no whole number of days stays as written."""
    seconds = parse_duration(span)
    days = seconds / 86400
    if days == int(days):
        return f"{int(days)} day{'s' if days != 1 else ''}"
    return span.strip()


def _change_lines(change: Change, e: Explanation) -> list[str]:
    before = "no score" if change.previous_score is None else f"{change.previous_score:.1f}"
    after = "no score" if e.score is None else f"{e.score:.1f}"
    # `+ 0.0` turns a -0.0 delta (a rounding hair below zero) into a plain 0.0.
    delta = "" if change.score_delta is None else f" ({round(change.score_delta, 1) + 0.0:+.1f})"
    grade = (
        f"grade {change.previous_grade} -> {e.grade}" if change.grade_changed else "grade unchanged"
    )
    lines = [f"Since {_when(change.previous_as_of)}: {before} -> {after}{delta}, {grade}"]
    width = max((len(m.id) for m in change.movers), default=0)
    for move in change.movers:
        points = ""
        if move.points_before is not None or move.points_after is not None:
            points = f"; points {_maybe(move.points_before)} -> {_maybe(move.points_after)}"
        lines.append(
            f"  {move.id:<{width}}  {move.delta:+.1f} "
            f"({move.before:.1f} -> {move.after:.1f}{points})"
        )
    lines += [f"  {lid} now holds (it did not then)" for lid in change.limits_added]
    lines += [f"  {lid} no longer holds (it did then)" for lid in change.limits_removed]
    return lines


def _maybe(points: float | None) -> str:
    return "none" if points is None else f"{points:.1f}"


def _when(moment: datetime) -> str:
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float) -> str:
    return f"{value:.4g}"
