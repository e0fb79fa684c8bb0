"""The statistics on a simulated book whose generating process is known, so the right answers are.

Each client has a latent health ``h`` drawn uniformly from 0..1, recorded once as a ``health``
signal; 60 days later it renews, or churns with probability ``1 - h``. A score equal to the latent
health ranks a churner below a renewer with probability 5/6:
P(h_churned < h_renewed) = ∫∫_{x<y} 2(1-x)·2y dx dy = 4(1/3 - 1/8) = 5/6.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rapport.api.validation.run import Book, validate_book
from rapport.api.validation.stats import auc_of
from rapport.api.validation.suggest import (
    Proposal,
    fit_weights,
    render_proposal,
    suggest,
    temporal_split,
    weights_diff,
)
from rapport.engine.backtest import Replayed
from rapport.engine.frame import Categorical, ClientSet, KindFrame, SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.outcome_samples import Sample

DAY = 86400.0
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
CLIENTS = 1500
THEORETICAL_AUC = 5 / 6


def scorecard(kind: str) -> Scorecard:
    return Scorecard.model_validate(
        {
            "version": 1,
            "grades": [
                {"name": "healthy", "min": 75, "color": "green"},
                {"name": "watch", "min": 50, "color": "orange"},
                {"name": "at_risk", "min": 0, "color": "red"},
            ],
            "signals": {kind: {"unit": "points"}},
            "components": {
                kind: {
                    "signal": kind,
                    "aggregate": "latest",
                    "window": "365d",
                    "weight": 1,
                    "curve": {"points": [[0, 0], [100, 100]]},
                }
            },
        }
    )


def simulated_book(seed: int = 11) -> tuple[ClientSet, SignalSet, np.ndarray]:
    """The book described above; also a ``noise`` signal unrelated to anything. Returns the
    latent health too."""
    rng = np.random.default_rng(seed)
    health = rng.random(CLIENTS)
    churned = rng.random(CLIENTS) < 1 - health
    rows = np.arange(CLIENTS, dtype=np.int32)
    # Spread over a year so the renewals fall on many instants, as in a real book.
    start = T0 + np.floor(rng.random(CLIENTS) * 300) * DAY

    def measured(value: np.ndarray) -> KindFrame:
        nothing = np.full(CLIENTS, np.nan)
        return KindFrame(rows, start, nothing, value, {}, recorded=start.copy())

    types = Categorical.from_values("churned" if c else "renewed" for c in churned)
    renewal = start + 60 * DAY
    outcome = KindFrame(rows, renewal, np.full(CLIENTS, np.nan), np.full(CLIENTS, np.nan),
                        {"type": types}, recorded=renewal.copy())  # fmt: skip
    frames = {
        "health": measured(100 * health),
        "noise": measured(100 * rng.random(CLIENTS)),
        "outcome": outcome,
    }
    ids = [f"c{i}" for i in range(CLIENTS)]
    segments = ["a" if i % 2 else "b" for i in range(CLIENTS)]
    return ClientSet.of(ids, segments), SignalSet(frames), health


@pytest.fixture(scope="module")
def book() -> tuple[ClientSet, SignalSet, np.ndarray]:
    return simulated_book()


def test_a_score_equal_to_the_latent_health_gets_its_theoretical_auc(book: tuple) -> None:
    clients, signals, _ = book
    report = validate_book(
        Book(scorecard("health"), "sim", clients, signals), outcome="churned", horizons=[30 * DAY]
    )
    (h,) = report.horizons
    assert h.cases == CLIENTS and h.scored == CLIENTS
    # Standard error here is about 0.011: 0.03 is nearly three of them.
    assert h.auc.value == pytest.approx(THEORETICAL_AUC, abs=0.03)
    assert h.auc.low is not None and h.auc.high is not None
    assert h.auc.low < THEORETICAL_AUC < h.auc.high
    # Churn falls grade by grade: at_risk (h < 0.5) churns most, healthy (h >= 0.75) least.
    rates = {g.label: g.rate for g in h.grades if g.cases}
    assert rates["at_risk"] > rates["watch"] > rates["healthy"]
    assert report.verdict[0].startswith("Clients graded at_risk 30d before a renewal churned")


def test_a_random_score_gets_an_auc_of_about_one_half(book: tuple) -> None:
    clients, signals, _ = book
    report = validate_book(
        Book(scorecard("noise"), "sim", clients, signals), outcome="churned", horizons=[30 * DAY]
    )
    auc = report.horizons[0].auc
    assert auc.value == pytest.approx(0.5, abs=0.04)
    assert auc.low is not None and auc.high is not None and auc.low < 0.5 < auc.high
    assert "not clearly better than chance" in report.verdict[1]


def test_the_auc_counts_ties_half_and_needs_both_groups() -> None:
    score = np.array([1.0, 1.0, 2.0, np.nan])
    positive = np.array([True, False, False, True])
    assert auc_of(score, positive, interval=False).value == pytest.approx(0.75)
    assert auc_of(score, np.zeros(4, dtype=bool)).value is None


# --- the fit --------------------------------------------------------------------------------------

#: The known linear model: churn log-odds fall by these per point of each component.
TRUE_WEIGHTS = {"a": 3.0, "b": 2.0, "c": 1.0, "useless": 0.0}
#: How close each fitted share of the total weight must come to the true share.
SHARE_TOLERANCE = 0.05


def linear_cases(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = rng.random((n, len(TRUE_WEIGHTS))) * 100
    beta = np.array(list(TRUE_WEIGHTS.values())) / 100 * 2.0  # per point
    logit = 6.0 - points @ beta
    positive = rng.random(n) < 1 / (1 + np.exp(-logit))
    return points, positive


def test_the_fit_recovers_the_weights_of_a_known_linear_model() -> None:
    points, positive = linear_cases(20000)
    fitted = fit_weights(points, positive, tuple(TRUE_WEIGHTS))
    total = sum(fitted.values())
    truth = sum(TRUE_WEIGHTS.values())
    for cid, weight in TRUE_WEIGHTS.items():
        assert fitted[cid] / total == pytest.approx(weight / truth, abs=SHARE_TOLERANCE), cid


def replayed_of(points: np.ndarray) -> Replayed:
    n, width = points.shape
    weight = np.full((n, width), 1 / width)
    score = (points * weight).sum(axis=1)
    return Replayed(
        client=np.arange(n, dtype=np.int32),
        at=np.zeros(n),
        score=score,
        provisional=score,
        grade=np.zeros(n, dtype=np.int16),
        insufficient=np.zeros(n, dtype=bool),
        coverage=np.ones(n),
        points=points,
        weight=weight,
        component_ids=tuple(TRUE_WEIGHTS),
        grade_names=("healthy",),
    )


def linear_scorecard() -> Scorecard:
    components = {
        cid: {
            "signal": "survey",
            "aggregate": "latest",
            "weight": 1,
            "curve": {"linear": {"best": 100, "worst": 0}},
        }
        for cid in TRUE_WEIGHTS
    }
    grades = [{"name": "healthy", "min": 0, "color": "green"}]
    return Scorecard.model_validate({"version": 1, "grades": grades, "components": components})


def linear_sample(n: int) -> tuple[Sample, np.ndarray]:
    points, positive = linear_cases(n)
    outcome_at = T0 + np.arange(n) * 3600.0  # one decision an hour
    sample = Sample(
        np.arange(n, dtype=np.int32), outcome_at - 30 * DAY, positive, outcome_at, outcome_at
    )
    return sample, points


def test_the_temporal_split_trains_only_on_outcomes_known_before_the_cut() -> None:
    sample, _ = linear_sample(1000)
    split = temporal_split(sample)
    assert (sample.known_at[split.train] < split.cut).all()
    assert (sample.outcome_at[split.test] >= split.cut).all()
    assert not (split.train & split.test).any()


def test_the_fit_never_sees_what_came_after_the_cut() -> None:
    sample, points = linear_sample(4000)
    first = suggest(linear_scorecard(), sample, replayed_of(points))
    assert first.weights is not None and first.proposed_auc is not None
    later = sample.known_at >= first.cut
    # Scramble everything after the cut: its outcomes and its points.
    rng = np.random.default_rng(0)
    flipped = Sample(sample.client, sample.at, np.where(later, ~sample.positive, sample.positive),
                     sample.outcome_at, sample.known_at)  # fmt: skip
    shuffled = np.where(later[:, None], rng.random(points.shape) * 100, points)
    second = suggest(linear_scorecard(), flipped, replayed_of(shuffled))
    assert second.weights == first.weights
    assert second.proposed_auc != first.proposed_auc  # the check period did change


def test_too_little_data_says_so_plainly() -> None:
    sample, points = linear_sample(30)
    proposal = suggest(linear_scorecard(), sample, replayed_of(points))
    assert proposal.weights is None
    assert proposal.reason.startswith("Too little data to suggest anything")


def test_the_auc_is_scikit_learns_roc_auc_of_the_warning_direction() -> None:
    rng = np.random.default_rng(2)
    score = np.round(rng.random(500) * 20)  # coarse: many ties
    positive = rng.random(500) < 0.3 + 0.02 * (10 - score)
    ours = auc_of(score, positive, interval=False).value
    assert ours == pytest.approx(roc_auc_score(positive, -score), abs=1e-12)


def test_since_and_until_keep_only_the_outcomes_between(book: tuple) -> None:
    clients, signals, _ = book
    frame = signals.frame("outcome")
    since = datetime.fromtimestamp(T0 + 200 * DAY, UTC)
    until = datetime.fromtimestamp(T0 + 300 * DAY, UTC)
    report = validate_book(
        Book(scorecard("health"), "sim", clients, signals),
        outcome="churned",
        horizons=[30 * DAY],
        since=since,
        until=until,
    )
    inside = (frame.ts >= since.timestamp()) & (frame.ts <= until.timestamp())
    assert report.horizons[0].cases == int(inside.sum()) > 0
    assert report.since == since.isoformat(timespec="seconds")


def test_the_proposal_is_a_diff_of_the_weight_lines_only() -> None:
    text = (Path(__file__).resolve().parents[3] / "rules" / "scorecard.yaml").read_text()
    proposal = Proposal({"responsiveness": 30, "satisfaction": 25}, "", T0, 100, 40, 0.61, 0.68)
    rendered = render_proposal(proposal, text, "scorecard.yaml")
    assert "Held-back AUC: serving score 0.61, proposed weights 0.68." in rendered
    changed = [line for line in rendered.splitlines() if line[:1] in "+-" and line[1:2] != line[:1]]
    assert changed == ["-    weight: 25", "+    weight: 30", "-    weight: 20", "+    weight: 25"]
    assert "Nothing was written" in rendered
    # Only the proposed values change: with none, there is no diff at all.
    assert weights_diff(text, "scorecard.yaml", {}) == ""
