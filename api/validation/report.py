"""A validation report: per horizon, how well the scores as known then foresaw the outcome, led
by a verdict in plain words.

``measure_horizon`` turns one horizon's cases (``engine.outcome_samples.Sample``) and their replayed
scores (``engine.backtest.Replayed``) into numbers; ``verdict`` says what they mean. Rendering
(table, markdown, JSON, HTML) is ``api.validation.render``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rapport.api.validation.stats import (
    Auc,
    Rate,
    auc_of,
    band_index,
    rates_by,
    recombined,
    roc_points,
)
from rapport.engine.backtest import Replayed
from rapport.engine.model import Scorecard
from rapport.engine.outcome_samples import Sample
from rapport.engine.result import INSUFFICIENT_DATA

#: Score bands of the calibration table.
BANDS = 10
#: Fewer positive (or negative) cases than this and the report says it cannot judge.
MIN_CASES = 5
#: Below this ratio of worst-grade to best-grade rate the grades are said not to separate.
NO_LIFT = 1.25


@dataclass(frozen=True)
class ComponentFinding:
    """One component: its own points' AUC, and the AUC the score loses without it (positive: it
    helps; points recombined before caps, so both sides of the difference are alike)."""

    id: str
    auc: Auc
    drop_cost: float | None


@dataclass(frozen=True)
class SegmentFinding:
    segment: str
    auc: Auc
    rate: Rate


@dataclass(frozen=True)
class HorizonReport:
    """One horizon's findings. ``grades`` are best first, then ``insufficient_data`` and ``no
    score``; ``coverage`` counts cases with a score, ``insufficient`` and ``no_data`` apart."""

    horizon: str
    cases: int
    positives: int
    scored: int
    insufficient: int
    no_data: int
    auc: Auc
    grades: list[Rate]
    bands: list[Rate]
    components: list[ComponentFinding]
    segments: list[SegmentFinding]
    roc: tuple[list[float], list[float]] = field(repr=False)


@dataclass(frozen=True)
class ValidationReport:
    outcome: str
    question: str  # "decision" (at each renewal) or "event" (in the next H, on a grid)
    rules_version: str
    since: str
    until: str
    horizons: list[HorizonReport]
    verdict: list[str]
    notes: list[str]


def grade_order(scorecard: Scorecard) -> list[int]:
    """Grade indexes best (highest ``min``) first."""
    return sorted(range(len(scorecard.grades)), key=lambda g: -scorecard.grades[g].min)


def measure_horizon(
    label: str,
    sample: Sample,
    replayed: Replayed,
    scorecard: Scorecard,
    segments: tuple[str | None, ...],
) -> HorizonReport:
    """The findings of one horizon; ``segments`` is the segment of each client row."""
    score, positive = replayed.score, sample.positive
    order = grade_order(scorecard)
    names = [scorecard.grades[g].name for g in order] + [INSUFFICIENT_DATA, "no score"]
    rank = np.full(len(scorecard.grades) + 1, -1)
    rank[np.array(order)] = np.arange(len(order))
    group = np.where(replayed.grade >= 0, rank[replayed.grade], -1)
    no_data = np.isnan(replayed.provisional) & ~replayed.insufficient
    group = np.where(replayed.insufficient, len(order), np.where(no_data, len(order) + 1, group))
    low, high = scorecard.scale.min, scorecard.scale.max
    step = (high - low) / BANDS
    band_labels = [f"{low + k * step:g}-{low + (k + 1) * step:g}" for k in range(BANDS)]
    fpr, tpr = roc_points(score, positive)
    return HorizonReport(
        horizon=label,
        cases=len(sample),
        positives=int(positive.sum()),
        scored=int((~np.isnan(score)).sum()),
        insufficient=int(replayed.insufficient.sum()),
        no_data=int(no_data.sum()),
        auc=auc_of(score, positive),
        grades=rates_by(names, group, positive),
        bands=rates_by(band_labels, band_index(score, low, high, BANDS), positive),
        components=_components(replayed, positive),
        segments=_segments(replayed, positive, segments),
        roc=(fpr.tolist(), tpr.tolist()),
    )


def _components(replayed: Replayed, positive: np.ndarray) -> list[ComponentFinding]:
    scored = ~np.isnan(replayed.score)  # the cases the score itself is judged on
    whole = auc_of(
        recombined(replayed.points, replayed.weight)[scored], positive[scored], interval=False
    )
    found = []
    for j, cid in enumerate(replayed.component_ids):
        own = auc_of(replayed.points[:, j], positive, interval=False)
        without = recombined(replayed.points, replayed.weight, drop=j)[scored]
        other = auc_of(without, positive[scored], interval=False).value
        cost = None if whole.value is None or other is None else whole.value - other
        found.append(ComponentFinding(cid, own, cost))
    return found


def _segments(
    replayed: Replayed, positive: np.ndarray, segments: tuple[str | None, ...]
) -> list[SegmentFinding]:
    of_case = np.array([segments[r] or "(none)" for r in replayed.client.tolist()], dtype=object)
    found = []
    for name in sorted(set(of_case.tolist())):
        mine = of_case == name
        rate = Rate(name, int(mine.sum()), int(positive[mine].sum()))
        found.append(SegmentFinding(name, auc_of(replayed.score[mine], positive[mine]), rate))
    return found


# --- in plain words -------------------------------------------------------------------------------


def _verb(outcome: str, question: str) -> str:
    if question == "decision":
        return "churned"
    return "escalated" if outcome == "escalated" else f"had a {outcome!r} outcome"


def verdict(report_horizons: list[HorizonReport], outcome: str, question: str) -> list[str]:
    """Sentences a PM can act on: lift between the worst and best grade, then each horizon's AUC."""
    if not report_horizons:
        return ["Nothing to judge: no horizon was asked for."]
    lines = [_lift_sentence(report_horizons[0], outcome, question)]
    for h in report_horizons:
        lines.append(_auc_sentence(h, outcome, question))
    return lines


def _when(h: HorizonReport, question: str) -> str:
    return f"{h.horizon} before a renewal" if question == "decision" else f"{h.horizon} ahead"


def _lift_sentence(h: HorizonReport, outcome: str, question: str) -> str:
    graded = [g for g in h.grades if g.label not in (INSUFFICIENT_DATA, "no score") and g.cases]
    verb = _verb(outcome, question)
    if h.positives < MIN_CASES or h.cases - h.positives < MIN_CASES:
        return (
            f"Too few cases to judge: {h.positives} of {h.cases} {verb} "
            f"(at least {MIN_CASES} of each are needed)."
        )
    if len(graded) < 2:
        return f"Every scored case {_when(h, question)} had the same grade: no lift to measure."
    best, worst = graded[0], graded[-1]
    counts = f"({worst.positives} of {worst.cases} vs {best.positives} of {best.cases})"
    who = f"Clients graded {worst.label} {_when(h, question)} {verb}"
    if not best.rate:
        return f"{who} in {_pct(worst.rate)} of cases; none graded {best.label} did {counts}."
    lift = (worst.rate or 0.0) / best.rate
    if lift < NO_LIFT:
        return (
            f"{who} about as often as {best.label} ones ({lift:.1f}×, {counts[1:-1]}): "
            "the grades do not tell them apart."
        )
    return f"{who} {lift:.1f}× as often as {best.label} ones {counts}."


def _auc_sentence(h: HorizonReport, outcome: str, question: str) -> str:
    a = h.auc
    if a.value is None:
        return f"At {h.horizon}: no AUC, one of the groups is empty."
    interval = "" if a.low is None else f" (95% interval {a.low:.2f}-{a.high:.2f})"
    meaning = (
        "better than chance"
        if a.low is not None and a.low > 0.5
        else "not clearly better than chance"
    )
    who = _verb(outcome, question)
    return (
        f"At {h.horizon}: AUC {a.value:.2f}{interval}, {meaning}: of two clients, one who {who} "
        f"and one who did not, the first had the lower score {a.value:.0%} of the time."
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
