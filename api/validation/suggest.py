"""``rapport validate --suggest``: component weights fitted on an earlier period and checked on
the next, printed as a diff of ``scorecard.yaml``; the rules are never written.

The split is temporal, never random: cases whose outcome was known before the cut (a renewal
decided, an event window closed) train the fit; cases whose outcome came at or after it test it.
Nothing a test case knows reaches the fit, and a training case's features were known before its
own outcome, so before the cut.

The fit: scikit-learn's L2-regularised ``LogisticRegression`` (a well-kept, standard
implementation; the penalty keeps a few dozen cases from producing wild weights) of the outcome
on the components' points (0-1; a skipped component takes its training mean). A score is a
weighted mean of points, so ranking clients by it is ranking by a linear model whose coefficients
are the weights: the proposed weight of a component is its negated coefficient (points warn by
being low), zero when the fit found it pointing the wrong way, rescaled to the scorecard's total.
Segment overrides of weights are left as they are. Which components and windows help is
``candidates``' search, on the same split and with the same fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from rapport.api.validation.scorecard_edits import unified, with_weights
from rapport.api.validation.stats import auc_of, recombined
from rapport.engine.backtest import Replayed
from rapport.engine.model import Scorecard
from rapport.engine.outcome_samples import Sample

if TYPE_CHECKING:
    from rapport.api.validation.candidates import Search

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Share of the cases (by time) the fit learns from; the rest, later, test it.
TRAIN_SHARE = 0.7
#: Fewer positive or negative cases than these on either side and nothing is suggested.
MIN_TRAIN, MIN_TEST = 10, 5
#: The inverse penalty strength of the fit (scikit-learn's default).
PENALTY_C = 1.0


@dataclass(frozen=True)
class Split:
    """Which cases train and which test, and the instant between them (epoch seconds)."""

    cut: float
    train: BoolArray
    test: BoolArray


def temporal_split(sample: Sample, share: float = TRAIN_SHARE) -> Split:
    """Cut at the ``share`` quantile of outcome times: train on cases whose outcome was known
    (``known_at``) before the cut, test on those whose outcome came at or after it."""
    cut = float(np.quantile(sample.outcome_at, share)) if len(sample) else float("nan")
    return Split(cut, sample.known_at < cut, sample.outcome_at >= cut)


@dataclass(frozen=True)
class Proposal:
    """The fit's weights (None when too small to suggest; ``reason`` says why) and the AUCs on
    the held-back period: the serving score, and the proposed weights' score."""

    weights: dict[str, float] | None
    reason: str
    cut: float
    train_cases: int
    test_cases: int
    current_auc: float | None = None
    proposed_auc: float | None = None


def fit_weights(points: FloatArray, positive: BoolArray, ids: tuple[str, ...]) -> dict[str, float]:
    """Per component, the weight a regularised logistic fit of ``positive`` on ``points`` gives
    it (negated coefficient, floored at 0), before rescaling."""
    x = points / 100.0
    means = np.nanmean(np.where(np.isnan(x), np.nan, x), axis=0)
    means = np.where(np.isnan(means), 0.5, means)
    x = np.where(np.isnan(x), means, x)
    model = LogisticRegression(C=PENALTY_C, max_iter=1000)
    model.fit(x, positive.astype(int))
    coef = model.coef_[0]
    return {cid: max(0.0, -float(c)) for cid, c in zip(ids, coef, strict=True)}


def _rescaled(raw: dict[str, float], total: float) -> dict[str, float]:
    """``raw`` scaled to sum to ``total``: whole numbers, or tenths for a small total."""
    mass = sum(raw.values())
    digits = 0 if total >= 50 else 1
    return {k: round(v / mass * total, digits) for k, v in raw.items()} if mass > 0 else raw


def proposed_score(
    points: FloatArray, weight: FloatArray, proposal: dict[str, float]
) -> FloatArray:
    """The score with ``proposal``'s weights over the components that had points."""
    w = np.where(weight > 0, np.array(list(proposal.values()))[None, :], 0.0)
    return recombined(points, w)


def suggest(scorecard: Scorecard, sample: Sample, replayed: Replayed) -> Proposal:
    """Fit on the earlier cases, test on the later; a ``Proposal`` without weights, saying why,
    when either side is too small."""
    split = temporal_split(sample)
    y = sample.positive
    counts = [int((y & part).sum()) for part in (split.train, split.test)]
    others = [int((~y & part).sum()) for part in (split.train, split.test)]
    base = Proposal(None, "", split.cut, int(split.train.sum()), int(split.test.sum()))
    if min(counts[0], others[0]) < MIN_TRAIN or min(counts[1], others[1]) < MIN_TEST:
        reason = (
            f"Too little data to suggest anything: {counts[0]} positive and {others[0]} negative "
            f"cases before the cut, {counts[1]} and {others[1]} after; at least {MIN_TRAIN} of "
            f"each are needed to fit and {MIN_TEST} to check."
        )
        return Proposal(None, reason, base.cut, base.train_cases, base.test_cases)
    raw = fit_weights(replayed.points[split.train], y[split.train], replayed.component_ids)
    total = sum(c.weight for c in scorecard.components.values())
    weights = _rescaled(raw, total)
    if not any(weights.values()):
        return Proposal(None, "The fit found no component that warns.", split.cut, *_sizes(split))
    test = split.test & ~np.isnan(replayed.score)
    current = auc_of(replayed.score[test], y[test], interval=False).value
    mine = proposed_score(replayed.points[test], replayed.weight[test], weights)
    proposed = auc_of(mine, y[test], interval=False).value
    return Proposal(weights, "", split.cut, *_sizes(split), current, proposed)


def _sizes(split: Split) -> tuple[int, int]:
    return int(split.train.sum()), int(split.test.sum())


def weights_diff(text: str, path: str, weights: dict[str, float]) -> str:
    """A unified diff of the scorecard ``text`` with each ``components.<id>.weight`` set to its
    proposed value (only those lines change; comments and layout stay)."""
    return unified(text, with_weights(text, weights), path)


def render_proposal(
    proposal: Proposal, scorecard_text: str, path: str, found: Search | None = None
) -> str:
    """The proposal in markdown: the held-back AUCs, the candidates ``found`` tried (when a
    search ran) and the proposal as a diff (the weights, or the kept candidates with their
    weights), or why nothing is proposed."""
    head = "### Suggested weights"
    if proposal.weights is None:
        return f"{head}\n\n{proposal.reason}\n"
    when = _iso(proposal.cut)
    after = with_weights(scorecard_text, proposal.weights)
    held = (
        f"Held-back AUC: serving score {_fmt(proposal.current_auc)}, "
        f"proposed weights {_fmt(proposal.proposed_auc)}"
    )
    if found is not None and found.text is not None:
        after = found.text
        held += f", proposed scorecard (weights and kept candidates) {_fmt(found.test_auc)}"
    lines = [
        head,
        "",
        f"Fitted on the {proposal.train_cases} cases whose outcome was known before {when}; "
        f"checked on the {proposal.test_cases} cases after it (never seen by the fit).",
        "",
        held + ".",
        "",
        *([] if found is None else _search_lines(found)),
        "```diff",
        unified(scorecard_text, after, path).rstrip("\n") or "(no change)",
        "```",
        "",
        "Nothing was written: apply the change yourself, then `rapport rules test`.",
    ]
    return "\n".join(lines) + "\n"


def _search_lines(found: Search) -> list[str]:
    """The candidates tried, as a markdown table, and what was kept."""
    from rapport.api.validation.candidates import MARGIN  # noqa: PLC0415 - no import cycle

    if not found.tried:
        lines = ["No candidate component or window could be tried on this book.", ""]
        return lines + [f"- not tried: {why}" for why in found.not_tried] + [""]
    lines = [
        "Candidates (each replayed at every case's instant, the weights refitted on the fit "
        f"period; kept when the held-back AUC rises by at least {MARGIN:g} over the refitted "
        f"weights alone, {_fmt(found.base_test_auc)}, and the fit period's AUC "
        f"({_fmt(found.base_train_auc)}) rises too):",
        "",
        "| candidate | fit-period AUC | held-back AUC | kept |",
        "| --- | ---: | ---: | --- |",
    ]
    for tried in found.tried:
        kept = "yes" if tried.kept else "no"
        lines.append(
            f"| {tried.name} | {_fmt(tried.train_auc)} | {_fmt(tried.test_auc)} | {kept} |"
        )
    lines += [f"- not tried: {why}" for why in found.not_tried]
    if found.text is None:
        lines += ["", "No candidate helped: the proposal below changes weights only.", ""]
    else:
        chosen = "; ".join(found.kept)
        lines += [
            "",
            f"Folded into the proposal: {chosen}. The held-back period chose among the "
            "candidates, so the proposal's held-back AUC is a little optimistic.",
            "",
        ]
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()
