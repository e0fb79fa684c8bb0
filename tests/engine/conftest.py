"""The ``score`` fixture: every scorer test runs through both implementations.

Once through the vectorized ``engine.scoring.evaluate`` and once through the plain
``engine.reference.evaluate_reference``, so each hand-computed expectation checks both.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from scorer_builders import AS_OF, Score, clients

from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.reference import evaluate_reference
from rapport.engine.result import Evaluation
from rapport.engine.scoring import evaluate


@pytest.fixture(params=[evaluate, evaluate_reference], ids=["vectorized", "reference"])
def score(request: pytest.FixtureRequest) -> Score:
    """``score(scorecard, signals, n_clients | ClientSet, as_of=AS_OF)`` through one engine."""
    implementation = request.param

    def run(
        scorecard: Scorecard,
        signals: SignalSet,
        who: int | ClientSet,
        as_of: datetime = AS_OF,
    ) -> Evaluation:
        chosen = clients(who) if isinstance(who, int) else who
        return implementation(scorecard, chosen, signals, as_of, "test")

    return run
