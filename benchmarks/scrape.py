"""What one ``/metrics`` scrape costs at 10k and 100k clients, default series and with
``RAPPORT_METRICS_DETAIL=true``: samples, series per client, bytes plain and gzipped (as the
service sends them: the per-client text deflated once per evaluation), and the time to render it
once per evaluation. The issue's baseline, before the 6-series budget: 1.30M samples, 149 MB
(4.4 MB gzipped) at 100k clients.

Run: ``python -m benchmarks.scrape`` (``make bench``); results under ``scrape`` in
benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.bench_api import AS_OF, RULES, bench_clients, bench_signals
from rapport.api.bundle import load_bundle
from rapport.api.metrics import ClientMetricsInput, render_client_metrics
from rapport.engine.frame import ClientSet
from rapport.engine.scoring import evaluate
from rapport.signals.frames import build_signal_set
from rapport.signals.model import StoredSignal

RESULTS = Path(__file__).with_name("results.json")
BASELINE_100K = {"samples": 1_300_000, "plain_bytes": 149e6, "gzip_bytes": 4.4e6}


def scrape_input(count: int, *, detail: bool) -> ClientMetricsInput:
    """``count`` clients scored by the shipped rules, with the score changes, newest signal times
    and open incidents a real evaluation would hand the page."""
    clients = bench_clients(count)
    rows = bench_signals(clients)
    client_set = ClientSet.of([c.id for c in clients], [c.segment for c in clients])
    ruleset = load_bundle(RULES).ruleset
    evaluation = evaluate(
        ruleset.scorecard, client_set, build_signal_set(client_set, rows), AS_OF, "bench"
    )
    changes = {
        span: {c.id: float(i % 21 - 10) for i, c in enumerate(clients)} for span in ("7d", "30d")
    }
    return ClientMetricsInput(
        evaluation, clients, last_signals(rows), changes, detail, open_incidents(rows)
    )


def last_signals(rows: list[StoredSignal]) -> dict[tuple[str, str], Any]:
    newest: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = (row.client, row.kind)
        if key not in newest or row.ts > newest[key]:
            newest[key] = row.ts
    return newest


def open_incidents(rows: list[StoredSignal]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        if row.kind == "incident":
            seen = counts[row.client]
            if row.end is None or row.end > AS_OF:
                severity = row.attrs.get("severity", "none")
                seen[severity] = seen.get(severity, 0) + 1
    return counts


def measure(count: int, *, detail: bool, repeat: int) -> dict[str, Any]:
    data = scrape_input(count, detail=detail)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        page = render_client_metrics(data)
        times.append(time.perf_counter() - started)
    samples = sum(len(f.samples) for f in text_string_to_metric_families(page.text.decode()))
    return {
        "clients": count,
        "detail": detail,
        "samples": samples,
        "series_per_client": samples / count,
        "plain_bytes": len(page.text),
        # what a gzip scrape sends: the prebuilt deflate stream in a gzip member
        "gzip_bytes": len(page.deflated) + 18,
        "gzip_level6_bytes": len(gzip.compress(page.text, 6)),
        "render_seconds": statistics.median(times),
    }


def report(rows: list[dict[str, Any]]) -> None:
    print(f"{'clients':>8} {'series':>7} {'samples':>10} {'series/client':>14} "
          f"{'plain MB':>9} {'gzip MB':>8} {'gzip -6 MB':>10} {'render s':>9}")  # fmt: skip
    for r in rows:
        print(f"{r['clients']:>8,} {'detail' if r['detail'] else 'default':>7} "
              f"{r['samples']:>10,} {r['series_per_client']:>14.1f} "
              f"{r['plain_bytes'] / 1e6:>9.1f} {r['gzip_bytes'] / 1e6:>8.2f} "
              f"{r['gzip_level6_bytes'] / 1e6:>10.2f} {r['render_seconds']:>9.3f}")  # fmt: skip
    big = next(r for r in rows if r["clients"] == 100_000 and not r["detail"])
    print(f"100k clients, default series vs the issue's baseline: "
          f"{BASELINE_100K['samples'] / big['samples']:.1f}x fewer samples, "
          f"{BASELINE_100K['plain_bytes'] / big['plain_bytes']:.1f}x fewer bytes "
          f"(gzipped: {big['gzip_bytes'] / 1e6:.2f} MB as sent, deflated at level 1 once "
          f"per evaluation; {big['gzip_level6_bytes'] / 1e6:.2f} MB at level 6, "
          f"against 4.4 MB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="renders per size (median)")
    args = parser.parse_args()
    rows = [
        measure(count, detail=detail, repeat=args.repeat)
        for count in (10_000, 100_000)
        for detail in (False, True)
    ]
    report(rows)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["scrape"] = {"runs": rows, "baseline_100k_before_budget": BASELINE_100K}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
