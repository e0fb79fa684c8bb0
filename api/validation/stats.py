"""The statistics of a validation: how well past scores told positive cases from negative ones.

Direction: a *low* score is meant to warn, so every AUC here is the probability that a random
positive case (churned, escalated) had a lower score than a random negative one (ties count half):
0.5 is a coin toss, 1.0 a score that ranked every positive below every negative.

Libraries, and why: the AUC is the Mann-Whitney U statistic over the two groups
(``scipy.stats.mannwhitneyu``, the same number as scikit-learn's ``roc_auc_score``, but vectorised
over resamples), and its 95% interval a stratified percentile bootstrap (``scipy.stats.bootstrap``:
positives and negatives resampled apart, as pROC does), seeded so a report is reproducible. The
bootstrap treats cases as independent; repeated cases of one client make the interval somewhat
narrower than the truth, which the report says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Resamples of the bootstrap, and the most resampled values held at once (rows × cases).
RESAMPLES = 999
_BOOTSTRAP_BUDGET = 20_000_000


@dataclass(frozen=True)
class Auc:
    """An AUC with its 95% bootstrap interval; ``value`` None when a group is empty."""

    value: float | None
    low: float | None
    high: float | None
    positives: int
    negatives: int


def _u_auc(pos: FloatArray, neg: FloatArray, axis: int = -1) -> FloatArray:
    """P(a negative's score > a positive's) + half the ties, along ``axis``."""
    u = stats.mannwhitneyu(neg, pos, axis=axis, method="asymptotic").statistic
    return np.asarray(u / (pos.shape[axis] * neg.shape[axis]), dtype=np.float64)


def auc_of(score: FloatArray, positive: BoolArray, *, interval: bool = True, seed: int = 0) -> Auc:
    """The AUC of ``score`` (NaN cases left out) for ``positive``, with an interval unless not
    asked or a group has fewer than two cases."""
    known = ~np.isnan(score)
    pos, neg = score[known & positive], score[known & ~positive]
    if len(pos) == 0 or len(neg) == 0:
        return Auc(None, None, None, len(pos), len(neg))
    value = float(_u_auc(pos, neg))
    if not interval or len(pos) < 2 or len(neg) < 2:
        return Auc(value, None, None, len(pos), len(neg))
    size = len(pos) + len(neg)
    resamples = int(min(RESAMPLES, max(99, _BOOTSTRAP_BUDGET // size)))
    result = stats.bootstrap(
        (pos, neg),
        _u_auc,
        n_resamples=resamples,
        batch=max(1, _BOOTSTRAP_BUDGET // (size * 4)),
        vectorized=True,
        paired=False,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Auc(value, float(ci.low), float(ci.high), len(pos), len(neg))


def roc_points(score: FloatArray, positive: BoolArray) -> tuple[FloatArray, FloatArray]:
    """The ROC curve of warning at ``score <= threshold``: false- and true-positive rates as the
    threshold rises through every distinct score (NaN cases left out)."""
    known = ~np.isnan(score)
    s, p = score[known], positive[known]
    thresholds = np.unique(s)
    pos, neg = max(int(p.sum()), 1), max(int((~p).sum()), 1)
    order = np.sort(s[p]), np.sort(s[~p])
    tpr = np.searchsorted(order[0], thresholds, side="right") / pos
    fpr = np.searchsorted(order[1], thresholds, side="right") / neg
    return np.concatenate(([0.0], fpr)), np.concatenate(([0.0], tpr))


@dataclass(frozen=True)
class Rate:
    """How often the outcome followed in one group of cases (``rate`` None for no cases)."""

    label: str
    cases: int
    positives: int

    @property
    def rate(self) -> float | None:
        return self.positives / self.cases if self.cases else None


def rates_by(labels: list[str], group: npt.NDArray[np.int_], positive: BoolArray) -> list[Rate]:
    """One ``Rate`` per label, ``group[i]`` being case ``i``'s label index (-1: in none)."""
    cases = np.bincount(group[group >= 0], minlength=len(labels))
    hits = np.bincount(group[(group >= 0) & positive], minlength=len(labels))
    return [Rate(label, int(c), int(h)) for label, c, h in zip(labels, cases, hits, strict=True)]


def band_index(score: FloatArray, low: float, high: float, bands: int) -> npt.NDArray[np.int_]:
    """Per score, which of ``bands`` equal bands of ``[low, high]`` it falls in (-1: NaN)."""
    width = (high - low) / bands
    index = np.floor((score - low) / width)
    index = np.clip(np.nan_to_num(index, nan=-1.0), -1, bands - 1)
    return np.where(np.isnan(score), -1, index).astype(np.int_)


def recombined(points: FloatArray, weight: FloatArray, drop: int | None = None) -> FloatArray:
    """The weighted mean of components' points with component ``drop`` left out (its weight
    shared among the rest), before caps and floors: what the score would say without it."""
    w = weight.copy()
    if drop is not None:
        w[:, drop] = 0.0
    total = w.sum(axis=1)
    mean = (np.nan_to_num(points) * w).sum(axis=1)
    share: FloatArray = np.divide(mean, total, out=np.full(len(total), np.nan), where=total > 0)
    return share
