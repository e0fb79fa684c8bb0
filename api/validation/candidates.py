"""``--suggest``'s search for components and windows that help: each candidate a changed copy of
the scorecard, scored as the weights are (fitted on the earlier period, checked on the later).

The candidates, from what the rules language already says:

* every component with a ``window``, at half and at double it;
* ``contact_recency`` — days since the newest reply (``response_time``, ``age_days``, ``min``,
  all history), unless a component already reads that;
* ``satisfaction_trend`` — the slope of survey answers over 180 days, unless a component already
  reads a survey trend.

A new component is tried only when the book holds signals of its kind. Each candidate is a text
edit of ``scorecard.yaml`` (``scorecard_edits``: comments kept) validated as the file itself
would be (``engine.loader.check_model_text``: shape and meaning), so a proposal is always a valid
scorecard; a candidate whose edit does not validate is reported, not tried.

Scoring: every candidate's component is replayed at the cases' instants (``score_queries``) in
one probe scorecard holding them all — a component's points depend on its own measurement, its
segment overrides and the instant, never on the other components, so column ``k`` of the probe
is the candidate's points in its own scorecard (a test holds them equal). With the candidate
swapped in (a window) or added (a component), the weights are refitted on the earlier cases and
the score checked on both periods. A candidate is kept when its held-back AUC beats the
refitted weights alone by at least ``MARGIN`` and its fit-period AUC is higher too (so a lucky
held-back period alone does not make it). The held-back period thus chooses among candidates:
the kept set's held-back AUC is a little optimistic, which the report says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from rapport.api.validation.run import Book, period_of, replay_sample, sample_of
from rapport.api.validation.scorecard_edits import with_component, with_values, with_weights
from rapport.api.validation.stats import auc_of
from rapport.api.validation.suggest import (
    BoolArray,
    FloatArray,
    Split,
    _rescaled,
    fit_weights,
    proposed_score,
    render_proposal,
    suggest,
    temporal_split,
)
from rapport.engine.backtest import Replayed, score_queries
from rapport.engine.loader import check_model_text
from rapport.engine.model import Component, Scorecard, format_duration
from rapport.engine.outcome_samples import Sample

#: How much a candidate must raise the held-back AUC over the refitted weights to be kept.
MARGIN = 0.01
#: The window factors tried for every component that has a window.
WINDOW_FACTORS = (0.5, 2.0)


@dataclass(frozen=True)
class Candidate:
    """One change of the scorecard: a component's ``window`` (``window`` set) or a new
    ``component`` (``spec`` set); ``scorecard`` is the changed scorecard, validated."""

    name: str
    component: str
    scorecard: Scorecard
    window: str | None = None
    spec: dict[str, Any] | None = None
    why: str = ""

    def apply(self, text: str) -> str:
        """``text`` with this change made."""
        if self.window is not None:
            return with_values(text, "window", {self.component: self.window})
        assert self.spec is not None
        return with_component(text, self.component, self.spec, self.why)


@dataclass(frozen=True)
class Tried:
    """A candidate's AUCs with the weights refitted: on the fit period and the held-back one."""

    name: str
    train_auc: float | None
    test_auc: float | None
    kept: bool


@dataclass(frozen=True)
class Search:
    """What the search tried and kept. ``base_*`` are the refitted weights' AUCs without any
    candidate; ``text`` is the proposed scorecard (kept candidates and their refitted weights),
    validated, with ``test_auc`` its held-back AUC; None when nothing was kept."""

    tried: tuple[Tried, ...]
    not_tried: tuple[str, ...]
    base_train_auc: float | None
    base_test_auc: float | None
    kept: tuple[str, ...] = ()
    text: str | None = None
    weights: dict[str, float] | None = None
    test_auc: float | None = None


RECENCY_SPEC: dict[str, Any] = {
    "description": "Days since our newest reply to the client (recency of contact).",
    "signal": "response_time",
    "measure": "age_days",
    "aggregate": "min",
    "weight": 10,
    "curve": {"points": [[7, 100], [30, 50], [90, 0]]},
    "missing": "skip",
}
TREND_SPEC: dict[str, Any] = {
    "description": "Whether survey answers are rising or falling (0-100 points per day).",
    "signal": "survey",
    "measure": "normalized",
    "aggregate": "trend",
    "window": "180d",
    "min_count": 3,
    "weight": 10,
    "curve": {"points": [[-0.4, 0], [-0.1, 60], [0, 90], [0.1, 100]]},
    "missing": "skip",
}


def _new_components(sc: Scorecard) -> list[tuple[str, dict[str, Any], str]]:
    """The new components worth trying on ``sc``: (id, spec, why), each only when no component
    already measures the same thing and the id is free."""
    parts = list(sc.components.values())
    found = []
    if not any(c.signal == "response_time" and c.measure == "age_days" for c in parts):
        found.append(("contact_recency", RECENCY_SPEC, "recency of contact"))
    if not any(c.signal == "survey" and c.aggregate == "trend" for c in parts):
        found.append(("satisfaction_trend", TREND_SPEC, "the trend of survey answers"))
    return [f for f in found if f[0] not in sc.components]


def candidates_of(book: Book, text: str) -> tuple[list[Candidate], list[str]]:
    """Every candidate for ``book``'s scorecard (whose file reads ``text``), validated; and why
    each one that could not be made was left out."""
    made: list[Candidate] = []
    problems: list[str] = []

    def add(name: str, variant: str, **change: Any) -> None:
        if variant == text:
            problems.append(f"{name}: the file could not be edited there (flow style?)")
            return
        scorecard, findings = check_model_text(variant, "scorecard.yaml", Scorecard)
        if scorecard is None:
            problems.append(f"{name}: {findings[0] if findings else 'invalid'}")
            return
        made.append(Candidate(name, scorecard=scorecard, **change))

    for cid, component in book.scorecard.components.items():
        if component.window is None:
            continue
        for factor in WINDOW_FACTORS:
            window = format_duration(float(round(component.window * factor)))
            name = f"{cid}: window {window} (now {format_duration(component.window)})"
            add(name, with_values(text, "window", {cid: window}), component=cid, window=window)
    for cid, spec, why in _new_components(book.scorecard):
        if len(book.signals.frame(spec["signal"])):
            variant = with_component(text, cid, spec, why)
            add(f"add {cid} ({why})", variant, component=cid, spec=spec, why=why)
    return made, problems


def probe_scorecard(base: Scorecard, candidates: list[Candidate]) -> Scorecard:
    """One scorecard whose component ``k`` is candidate ``k``'s changed or new component, with
    its segment overrides (weights left out: only points are read), and nothing else."""
    components: dict[str, Component] = {}
    patches: dict[str, dict[str, Any]] = {name: {} for name in base.segments}
    for k, candidate in enumerate(candidates):
        key = f"candidate_{k}"
        changed = candidate.scorecard.components[candidate.component]
        components[key] = changed.model_copy(update={"weight": 1.0})
        for name, segment in candidate.scorecard.segments.items():
            patch = segment.components.get(candidate.component)
            if patch is not None:
                patches[name][key] = patch.model_copy(update={"weight": None})
    segments = {
        name: segment.model_copy(update={"weights": {}, "components": patches[name]})
        for name, segment in base.segments.items()
    }
    update = {"components": components, "segments": segments, "caps": (), "floors": ()}
    return base.model_copy(update={**update, "min_coverage": 0.0})


@dataclass(frozen=True)
class _Fit:
    weights: dict[str, float] | None
    train_auc: float | None
    test_auc: float | None


class _Scorer:
    """Refits weights on the earlier cases and checks them, for any set of component columns."""

    def __init__(self, sample: Sample, split: Split, base: Replayed, total: float) -> None:
        self.y = sample.positive
        self.train = split.train
        self.test = split.test & ~np.isnan(base.score)  # as suggest's serving comparison
        self.total = total

    def fit(self, points: FloatArray, weight: FloatArray, ids: tuple[str, ...]) -> _Fit:
        raw = fit_weights(points[self.train], self.y[self.train], ids)
        weights = _rescaled(raw, self.total)
        if not any(weights.values()):
            return _Fit(None, None, None)
        score = proposed_score(points, weight, weights)
        return _Fit(weights, self._auc(score, self.train), self._auc(score, self.test))

    def _auc(self, score: FloatArray, part: BoolArray) -> float | None:
        return auc_of(score[part], self.y[part], interval=False).value


def _columns(
    base: Replayed, probe: Replayed, chosen: list[tuple[int, Candidate]]
) -> tuple[FloatArray, FloatArray, tuple[str, ...]]:
    """The base points with each chosen candidate's column swapped in (a window) or added."""
    points, weight, ids = base.points.copy(), base.weight.copy(), list(base.component_ids)
    for k, candidate in chosen:
        column, share = probe.points[:, k], np.where(np.isnan(probe.points[:, k]), 0.0, 1.0)
        if candidate.window is not None:
            j = ids.index(candidate.component)
            points[:, j], weight[:, j] = column, share
        else:
            points = np.column_stack([points, column])
            weight = np.column_stack([weight, share])
            ids.append(candidate.component)
    return points, weight, tuple(ids)


def search(book: Book, text: str, sample: Sample, split: Split, base: Replayed) -> Search:
    """Try every candidate on ``sample`` (split as ``split``); ``base`` is the serving
    scorecard's replay of it. The caller has checked the data is large enough to fit."""
    candidates, problems = candidates_of(book, text)
    total = sum(c.weight for c in book.scorecard.components.values())
    scorer = _Scorer(sample, split, base, total)
    plain = scorer.fit(base.points, base.weight, base.component_ids)
    if not candidates or plain.test_auc is None or plain.train_auc is None:
        return Search((), tuple(problems), plain.train_auc, plain.test_auc)
    probe = score_queries(
        probe_scorecard(book.scorecard, candidates), book.clients, book.signals,
        sample.client, sample.at, rules_version=book.rules_version,
    )  # fmt: skip
    tried, kept = [], []
    for k, candidate in enumerate(candidates):
        fit = scorer.fit(*_columns(base, probe, [(k, candidate)]))
        good = _beats(fit, plain)
        tried.append(Tried(candidate.name, fit.train_auc, fit.test_auc, good))
        if good:
            kept.append((k, candidate, fit.test_auc or 0.0))
    found = Search(tuple(tried), tuple(problems), plain.train_auc, plain.test_auc)
    return _combined(found, text, scorer, base, probe, kept=kept)


def _beats(fit: _Fit, plain: _Fit) -> bool:
    if None in (fit.test_auc, fit.train_auc, plain.test_auc, plain.train_auc):
        return False
    assert fit.test_auc is not None and fit.train_auc is not None
    assert plain.test_auc is not None and plain.train_auc is not None
    return fit.test_auc >= plain.test_auc + MARGIN and fit.train_auc > plain.train_auc


def _combined(
    found: Search,
    text: str,
    scorer: _Scorer,
    base: Replayed,
    probe: Replayed,
    *,
    kept: list[tuple[int, Candidate, float]],
) -> Search:
    """The kept candidates together (the best of each component's), weights refitted; the
    single best alone when together they do not keep the gain."""
    best: dict[str, tuple[int, Candidate, float]] = {}
    for entry in kept:
        if entry[1].component not in best or entry[2] > best[entry[1].component][2]:
            best[entry[1].component] = entry
    if not best:
        return found
    ranked = sorted(best.values(), key=lambda e: -e[2])
    options = [ranked, ranked[:1]] if len(ranked) > 1 else [ranked]
    plain = _Fit(None, found.base_train_auc, found.base_test_auc)
    for chosen in options:
        fit = scorer.fit(*_columns(base, probe, [(k, c) for k, c, _ in chosen]))
        if fit.weights is None or not _beats(fit, plain):
            continue
        edited = text
        for _, candidate, _ in chosen:
            edited = candidate.apply(edited)
        proposed = with_weights(edited, fit.weights)
        scorecard, _ = check_model_text(proposed, "scorecard.yaml", Scorecard)
        if scorecard is not None:
            names = tuple(c.name for _, c, _ in chosen)
            return Search(
                found.tried, found.not_tried, found.base_train_auc, found.base_test_auc,
                names, proposed, fit.weights, fit.test_auc,
            )  # fmt: skip
    return found


def suggestion(
    book: Book,
    text: str,
    outcome: str,
    horizon: float,
    period: tuple[datetime | None, datetime | None] = (None, None),
) -> str:
    """``--suggest`` end to end, in markdown: the weights fitted on the earlier cases of
    ``outcome`` at ``horizon``, the candidates searched when the data is large enough, and the
    proposal as a diff of ``text`` (the scorecard file)."""
    first, last = period_of(book.signals)
    start = first if period[0] is None else period[0].timestamp()
    end = last if period[1] is None else period[1].timestamp()
    sample = sample_of(book, outcome, horizon, start, end)
    base = replay_sample(book, sample)
    proposal = suggest(book.scorecard, sample, base)
    found = None
    if proposal.weights is not None:
        found = search(book, text, sample, temporal_split(sample), base)
    return render_proposal(proposal, text, "scorecard.yaml", found)
