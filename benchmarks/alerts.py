"""Alert evaluation after an evaluation of 100k clients with the shipped alert rules: the target
is 0.2 s (median of 5 runs, each one step from the previous step's states, building the alert
inputs from the evaluation included); and the ratio against the per-client reference on a 10k
slice. Merged into ``benchmarks/results.json`` under ``alerts``; other keys are kept."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.__main__ import RESULTS, median_seconds
from benchmarks.data import AS_OF, synthetic_signals
from rapport.api.bundle import load_bundle
from rapport.engine.alert_reference import reference_alerts
from rapport.engine.alerts import NO_STATES, Silence, alert_inputs, evaluate_alerts
from rapport.engine.scoring import evaluate

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.2
CLIENTS = 100_000
SLICE = 10_000


def _history(n: int, score: Any, seed: int) -> tuple[dict[float, Any], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    before = {7 * 86400.0: score + rng.normal(5, 10, n)}
    age = {"response_time": rng.uniform(0, 4 * 86400, n)}
    return before, age


def _at(evaluation: Any, hours: float) -> Any:
    return evaluation.__class__(**{**evaluation.__dict__, "as_of": AS_OF + timedelta(hours=hours)})


def run() -> dict[str, Any]:
    bundle = load_bundle(ROOT / "rules")
    rules = bundle.alerts
    assert rules is not None
    clients, signals = synthetic_signals(CLIENTS)
    evaluation = evaluate(bundle.scorecard, clients, signals, AS_OF, "bench")
    before, age = _history(CLIENTS, evaluation.score, 1)
    silences = [
        Silence(str(i), clients.ids[i * 97], None, {}, "bench", "bench", AS_OF - timedelta(days=1),
                AS_OF + timedelta(days=1))
        for i in range(100)
    ]  # fmt: skip
    first = alert_inputs(evaluation, bundle.scorecard.min_coverage, before, age)
    states, fired = evaluate_alerts(rules, first, NO_STATES, silences)
    # The step after: score_critical's `for: 1h` has passed, its pending alerts all fire at once.
    burst = _at(evaluation, 1)
    burst_s, (states, burst_notices) = median_seconds(
        lambda: evaluate_alerts(
            rules, alert_inputs(burst, bundle.scorecard.min_coverage, before, age), states,
            silences,
        ),
        5,
    )  # fmt: skip
    later = _at(evaluation, 2)  # the steady state: every evaluation after that

    def step() -> Any:
        inputs = alert_inputs(later, bundle.scorecard.min_coverage, before, age)
        return evaluate_alerts(rules, inputs, states, silences)

    fast_s, (_, notices) = median_seconds(step, 5)
    sliced = alert_inputs(later, bundle.scorecard.min_coverage, before, age)
    small = sliced.__class__(**{
        **sliced.__dict__,
        "clients": sliced.clients[:SLICE], "score": sliced.score[:SLICE],
        "grade_rank": sliced.grade_rank[:SLICE], "coverage": sliced.coverage[:SLICE],
        "points": {k: v[:SLICE] for k, v in sliced.points.items()},
        "score_before": {k: v[:SLICE] for k, v in sliced.score_before.items()},
        "source_age": {k: v[:SLICE] for k, v in sliced.source_age.items()},
    })  # fmt: skip
    previous = {(r.rule, r.client): r for r in states.records() if r.client in set(small.clients)}
    slice_fast, _ = median_seconds(lambda: evaluate_alerts(rules, small, states, silences), 5)
    slice_ref, _ = median_seconds(lambda: reference_alerts(rules, small, previous, silences), 5)
    return {
        "clients": CLIENTS,
        "rules": len(rules.rules),
        "first_step_notices": len(fired),
        "burst_step_s": round(burst_s, 4),
        "burst_step_notices": len(burst_notices),
        "step_notices": len(notices),
        "step_s": round(fast_s, 4),
        "target_s": TARGET_S,
        "within_target": fast_s <= TARGET_S,
        "slice_clients": SLICE,
        "slice_vectorized_s": round(slice_fast, 4),
        "slice_reference_s": round(slice_ref, 4),
        "reference_ratio": round(slice_ref / slice_fast, 1),
    }


def main() -> None:
    results = run()
    print(
        f"alerts: {results['clients']} clients x {results['rules']} rules in "
        f"{results['step_s'] * 1000:.0f} ms (target {TARGET_S * 1000:.0f} ms, "
        f"{results['step_notices']} notices; a step firing {results['burst_step_notices']}: "
        f"{results['burst_step_s'] * 1000:.0f} ms); reference loop on {SLICE}: "
        f"{results['reference_ratio']}x slower"
    )
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["alerts"] = results
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
