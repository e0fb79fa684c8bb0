"""History replay: ``evaluate_store`` as of a past instant reproduces the score as it was known
then, even after a milestone due before that instant was entered late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rapport.api.pipeline import evaluate_store
from rapport.engine.loader import Ruleset
from rapport.engine.model import Scorecard
from rapport.signals.model import Client, parse_signal
from rapport.signals.store import Store

T1 = datetime(2026, 6, 1, tzinfo=UTC)
T2 = T1 + timedelta(days=5)
CARD = Scorecard.model_validate(
    {
        "version": 1,
        "grades": [
            {"name": "healthy", "min": 75, "color": "green"},
            {"name": "at_risk", "min": 0, "color": "red"},
        ],
        "components": {
            "delivery": {
                "signal": "milestone",
                "aggregate": "ratio",
                "numerator": {"missed": True},
                "weight": 1,
                "curve": {"linear": {"best": 0, "worst": 1}},
            }
        },
    }
)
RULES = Ruleset(CARD, "test", Path("."), ())


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def milestone(event_id: str, due: datetime, delivered: datetime | None = None) -> dict[str, object]:
    return {"kind": "milestone", "event_id": event_id, "client": "acme", "due": due,
            "delivered_at": delivered}  # fmt: skip


def test_a_past_as_of_reproduces_the_score_stored_then(tmp_path: Path) -> None:
    clock = Clock(T1)
    with Store.open(f"sqlite:///{tmp_path}/r.db", clock=clock) as store:
        store.upsert_clients([Client(id="acme", name="Acme")])
        on_time = milestone("m-1", T1 - timedelta(days=10), T1 - timedelta(days=11))
        store.upsert_signals([parse_signal(on_time).to_stored()])
        then = evaluate_store(store, RULES, T1)
        # Five days later someone enters a milestone that was due (and missed) before T1.
        clock.now = T2
        late = milestone("m-2", T1 - timedelta(days=3))
        store.upsert_signals([parse_signal(late).to_stored()])

        replayed = evaluate_store(store, RULES, T1, persist=False)
        now = evaluate_store(store, RULES, T2, persist=False)
        (stored,) = store.history("acme")

    assert then.score.tolist() == [100.0]
    assert replayed.score.tolist() == [stored.score] == [100.0]
    assert now.score.tolist() == [50.0]  # one of two milestones missed, now that it is known
