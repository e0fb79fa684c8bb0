"""Coverage in /metrics' per-client text: a gauge for every client, and insufficient_data as a
grade state with no score sample (a dashboard must not average it in)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from rapport.api.metrics import ClientMetricsInput, render_client_metrics
from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.loader import load_scorecard
from rapport.engine.scoring import evaluate
from rapport.signals.model import Client

RULES = Path(__file__).resolve().parents[2] / "rules"
AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


def test_a_client_without_signals_exports_coverage_and_the_insufficient_data_state() -> None:
    scorecard = load_scorecard(RULES / "scorecard.yaml")
    evaluation = evaluate(scorecard, ClientSet.of(["acme"]), SignalSet({}), AS_OF, "v")
    text = render_client_metrics(
        ClientMetricsInput(evaluation, [Client(id="acme", name="Acme")], {}, detail=True)
    ).text.decode()
    found = {
        (s.name, s.labels.get("grade")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("rapport_client_health_coverage", None)] == 0
    assert found[("rapport_client_health_grade", "insufficient_data")] == 1
    assert found[("rapport_client_health_grade", "healthy")] == 0
    assert ("rapport_client_health_score", None) not in found
