"""``rapport rules diff``'s replay: the shipped rules against a change of them (delivery on time
weighs three times more), each replayed with its alert rules over 90 days at a daily step, for
10k clients with ~100 events each (~1M events), then diffed. Target: at most 10 s for the whole
diff on this 2-core machine (median of 3 runs of wall time; the CPU time of one run and the load
average are recorded beside it: on a shared machine the wall time says as much about the load).
The signals are in memory, as ``diff_bundles`` holds them after its one load (the store's load
is ``store_roundtrip``'s figure). Merged into ``benchmarks/results.json`` under ``rules_diff``;
other keys are kept."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.__main__ import RESULTS, median_seconds
from benchmarks.data import AS_OF, event_count, synthetic_signals
from rapport.api.bundle import RulesBundle, load_bundle
from rapport.engine.replay import Side, replay, replay_together, window
from rapport.engine.rules_diff import RulesDiff, diff

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 10_000
DAYS = 90
TARGET_S = 10.0


def _bundles() -> tuple[RulesBundle, RulesBundle]:
    base = load_bundle(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        head_dir = Path(tmp) / "rules"
        shutil.copytree(ROOT / "rules", head_dir)
        card = head_dir / "scorecard.yaml"
        card.write_text(card.read_text().replace("    weight: 20\n", "    weight: 60\n", 1))
        head = load_bundle(head_dir)
    return base, head


def run() -> dict[str, Any]:
    base, head = _bundles()
    clients, signals = synthetic_signals(CLIENTS)
    instants = window(AS_OF, DAYS, timedelta(days=1))

    def replayed(bundle: RulesBundle) -> Any:
        return replay(
            bundle.scorecard, clients, signals, instants, bundle.version, alerts=bundle.alerts
        )

    def whole() -> RulesDiff:  # as diff_bundles does it: one measurer per instant, shared
        sides = [Side(b.scorecard, clients, b.version, b.alerts) for b in (base, head)]
        return diff(*replay_together(sides, signals, instants))

    seconds, result = median_seconds(whole, 3)
    started, cpu = time.perf_counter(), time.process_time()
    whole()
    cpu_s = time.process_time() - cpu  # this process's CPU: what a shared machine's load hides
    started = time.perf_counter()
    replayed(base)
    one_side = time.perf_counter() - started
    counts = result.counts()
    return {
        "clients": CLIENTS,
        "events": event_count(signals),
        "instants": len(instants),
        "diff_s": round(seconds, 3),
        "diff_cpu_s": round(cpu_s, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "one_ruleset_replay_s": round(one_side, 3),
        "per_instant_ms": round(one_side / len(instants) * 1000, 2),
        "target_s": TARGET_S,
        "within_target": seconds <= TARGET_S,
        "clients_changed": int(counts["clients-changed"]),
        "grade_changes": int(counts["grade-changes"]),
        "new_alerts": int(counts["new-alerts"]),
        "fewer_alerts": int(counts["fewer-alerts"]),
    }


def main() -> None:
    results = run()
    print(
        f"rules diff: {results['instants']} daily instants × {results['clients']} clients "
        f"({results['events']:,} events), two rulesets with alerts: {results['diff_s']:.2f} s "
        f"(target {TARGET_S:.0f} s; {results['diff_cpu_s']:.2f} s of CPU at load average "
        f"{results['load_average_1m']}; one ruleset {results['one_ruleset_replay_s']:.2f} s, "
        f"{results['per_instant_ms']:.1f} ms per instant); {results['clients_changed']} clients "
        f"differ, {results['grade_changes']} change grade"
    )
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["rules_diff"] = results
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
