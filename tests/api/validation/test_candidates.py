"""``--suggest``'s search for components and windows, on simulated books whose generating process
is known: one where churn follows how long we have been silent (a candidate captures it), one
where it follows a component the scorecard already has (nothing else helps).

Each client renews (or churns) once, at a day spread over a year; it hears from us every
``GAP`` days until it goes silent some ``silence`` days before the renewal (0-120, uniform). In the
first book churn is likelier the longer the silence; in the second it follows a recorded latent
health, and the silence is unrelated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from rapport.api.validation.candidates import (
    MARGIN,
    Search,
    candidates_of,
    probe_scorecard,
    search,
    suggestion,
)
from rapport.api.validation.run import Book, replay_sample, sample_of
from rapport.api.validation.suggest import suggest, temporal_split
from rapport.engine.backtest import score_queries
from rapport.engine.frame import Categorical, ClientSet, KindFrame, SignalSet
from rapport.engine.loader import check_model_text
from rapport.engine.model import Scorecard

DAY = 86400.0
T0 = 1.77e9  # a whole second, early 2026
CLIENTS = 900
GAP = 4
HORIZON = 30 * DAY

SCORECARD = """\
version: 1
grades:
  - {name: healthy, min: 75, color: green}
  - {name: at_risk, min: 0, color: red}
signals:
  health: {unit: points}
components:
  # How fast we answer: the simulated reply times say nothing about churn.
  replies:
    signal: response_time
    aggregate: median
    window: 60d
    weight: 10
    curve:
      points: [[1, 100], [48, 0]]
  health:
    signal: health
    aggregate: latest
    weight: 10
    curve:
      points: [[0, 0], [100, 100]]
"""


def book(driver: str, seed: int = 3) -> Book:
    """The book above; ``driver`` is ``silence`` or ``health``."""
    rng = np.random.default_rng(seed)
    start = T0 + np.floor(rng.random(CLIENTS) * 365) * DAY
    renewal = start + 200 * DAY
    silence = rng.random(CLIENTS) * 120
    health = rng.random(CLIENTS)
    risk = silence / 120 if driver == "silence" else 1 - health
    churned = rng.random(CLIENTS) < 0.05 + 0.8 * risk
    contacts = [
        np.arange(s, r - q * DAY, GAP * DAY)
        for s, r, q in zip(start, renewal, silence, strict=True)
    ]
    client = np.repeat(np.arange(CLIENTS, dtype=np.int32), [len(c) for c in contacts])
    ts = np.floor(np.concatenate(contacts))
    hours = rng.lognormal(np.log(8), 0.6, client.size)
    rows = np.arange(CLIENTS, dtype=np.int32)

    def frame(c: np.ndarray, t: np.ndarray, value: np.ndarray, **attrs: Categorical) -> KindFrame:
        return KindFrame(c, t, np.full(c.size, np.nan), value, attrs, t.copy())

    types = Categorical(churned.astype(np.int32), ("renewed", "churned"))
    frames = {
        "response_time": frame(client, ts, hours),
        "health": frame(rows, start, 100 * health),
        "outcome": frame(rows, renewal, np.full(CLIENTS, np.nan), type=types),
    }
    scorecard, findings = check_model_text(SCORECARD, "scorecard.yaml", Scorecard)
    assert scorecard is not None, findings
    clients = ClientSet.of([f"c{i}" for i in range(CLIENTS)])
    return Book(scorecard, "sim", clients, SignalSet(frames))


def searched(driver: str) -> Search:
    b = book(driver)
    sample = sample_of(b, "churned", HORIZON, -np.inf, np.inf)
    base = replay_sample(b, sample)
    assert suggest(b.scorecard, sample, base).weights is not None
    return search(b, SCORECARD, sample, temporal_split(sample), base)


def test_churn_after_silence_proposes_recency_of_contact_and_beats_the_base() -> None:
    found = searched("silence")
    assert found.kept and found.kept[0].startswith("add contact_recency")
    assert found.test_auc is not None and found.base_test_auc is not None
    assert found.test_auc >= found.base_test_auc + MARGIN
    assert found.text is not None and "contact_recency:" in found.text
    assert found.text.startswith(
        SCORECARD.split("components:", maxsplit=1)[0]
    )  # the head is untouched
    assert "# How fast we answer" in found.text  # comments stay
    assert check_model_text(found.text, "scorecard.yaml", Scorecard)[0] is not None


def test_churn_that_follows_an_existing_component_proposes_no_candidate() -> None:
    found = searched("health")
    assert found.tried  # windows of replies, and recency of contact, were tried
    assert not found.kept and found.text is None
    assert not any(t.kept for t in found.tried)


def test_the_probe_column_of_a_candidate_equals_replaying_its_own_scorecard() -> None:
    b = book("silence")
    sample = sample_of(b, "churned", HORIZON, -np.inf, np.inf).take(np.arange(300))
    made, problems = candidates_of(b, SCORECARD)
    assert not problems
    names = [c.name for c in made]
    assert names == [
        "replies: window 30d (now 60d)",
        "replies: window 120d (now 60d)",
        "add contact_recency (recency of contact)",
    ]  # health has no window; no survey signals, so no survey trend
    probe = score_queries(probe_scorecard(b.scorecard, made), b.clients, b.signals,
                          sample.client, sample.at)  # fmt: skip
    for k, candidate in enumerate(made):
        own = score_queries(candidate.scorecard, b.clients, b.signals, sample.client, sample.at)
        column = own.component_ids.index(candidate.component)
        np.testing.assert_array_equal(probe.points[:, k], own.points[:, column])


def test_the_rendered_proposal_folds_the_kept_candidate_into_the_diff() -> None:
    text = suggestion(book("silence"), SCORECARD, "churned", HORIZON)
    assert "| add contact_recency (recency of contact) |" in text
    assert "+  contact_recency:" in text
    assert "+  # proposed by rapport validate --suggest: recency of contact" in text
    assert "Nothing was written" in text


def test_every_candidate_on_the_shipped_scorecard_is_a_valid_scorecard() -> None:
    root = Path(__file__).resolve().parents[3] / "rules"
    text = (root / "scorecard.yaml").read_text()
    scorecard, _ = check_model_text(text, "scorecard.yaml", Scorecard)
    assert scorecard is not None
    frames = {"response_time": KindFrame.empty()}
    made, problems = candidates_of(Book(scorecard, "x", ClientSet.of([]), SignalSet(frames)), text)
    assert not problems
    windows = [c for c in made if c.window is not None]
    assert len(windows) == 2 * sum(1 for c in scorecard.components.values() if c.window)
    # Only the window line of that component changes.
    half = windows[0].apply(text)
    changed = [(a, b) for a, b in zip(text.splitlines(), half.splitlines(), strict=True) if a != b]
    assert changed == [("    window: 30d", "    window: 15d")]
    assert yaml.safe_load(half)["components"]["responsiveness"]["window"] == "15d"
