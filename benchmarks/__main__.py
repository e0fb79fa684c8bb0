"""``make bench``: the engine against a per-client loop, pandas and DuckDB, the memory floor, and
the store round trip — all measured in this one run; medians printed; figures in results.json."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import baselines
from benchmarks.data import AS_OF, event_count, slice_clients, synthetic_signals
from benchmarks.store_roundtrip import store_roundtrip
from rapport.engine.loader import load_scorecard
from rapport.engine.reference import evaluate_reference
from rapport.engine.scoring import evaluate

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"


def median_seconds(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` runs (after one warm-up), and the last result."""
    result = run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def copy_bandwidth() -> float:
    """Bytes per second numpy copies on this machine (median of 5 copies of 256 MiB)."""
    src = np.ones(32 * 1024 * 1024, dtype=np.float64)
    dst = np.empty_like(src)
    seconds, _ = median_seconds(lambda: np.copyto(dst, src), 5)
    return src.nbytes / seconds


def bytes_scanned(signals: Any) -> int:
    """Bytes of the columns bench4 must read at least once: client, time, value/end, attrs."""
    used = {
        "response_time": ("client", "ts", "value"),
        "milestone": ("client", "ts", "end"),
        "survey": ("client", "ts", "value"),
        "incident": ("client", "ts", "end"),
    }
    total = 0
    for kind, columns in used.items():
        frame = signals.kinds[kind]
        total += sum(getattr(frame, c).nbytes for c in columns)
        total += sum(a.codes.nbytes for a in frame.attrs.values())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--clients", type=int, default=100_000, help="clients (100 events each)")
    parser.add_argument("--loop-clients", type=int, default=10_000, help="slice for the loop")
    parser.add_argument(
        "--store-clients", type=int, default=10_000, help="clients for the store run"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    args = parser.parse_args()

    bench4 = load_scorecard(HERE / "scorecard.yaml")
    default = load_scorecard(Path("rules") / "scorecard.yaml")
    started = time.perf_counter()
    clients, signals = synthetic_signals(args.clients)
    events = event_count(signals)
    print(
        f"generated {args.clients:,} clients × 100 = {events:,} events "
        f"in {time.perf_counter() - started:.1f} s"
    )

    engine_s, ev = median_seconds(
        lambda: evaluate(bench4, clients, signals, AS_OF, "bench"), args.repeat
    )
    default_s, _ = median_seconds(
        lambda: evaluate(default, clients, signals, AS_OF, "bench"), args.repeat
    )

    few, few_signals = slice_clients(clients, signals, args.loop_clients)
    loop_start = time.perf_counter()
    ref = evaluate_reference(bench4, few, few_signals, AS_OF, "bench")
    loop_slice_s = time.perf_counter() - loop_start
    loop_s = loop_slice_s * args.clients / args.loop_clients
    agree_loop = float(np.nanmax(np.abs(ref.score - ev.score[: args.loop_clients])))

    frames = baselines.dataframes(signals)
    as_of = AS_OF.timestamp()
    pandas_s, pd_score = median_seconds(
        lambda: baselines.pandas_scores(args.clients, frames, as_of), max(1, args.repeat // 2)
    )
    connection = baselines.duckdb_connection(frames)
    duckdb_s, db_score = median_seconds(
        lambda: baselines.duckdb_scores(args.clients, connection, as_of), args.repeat
    )
    bandwidth = copy_bandwidth()
    floor_s = bytes_scanned(signals) / bandwidth

    with tempfile.TemporaryDirectory() as tmp:
        store = store_roundtrip(
            f"sqlite:///{tmp}/bench.db", default, args.store_clients, args.repeat
        )

    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_version()} numpy {np.__version__}",
        "events": events,
        "clients": args.clients,
        "engine_s": engine_s,
        "engine_default_scorecard_s": default_s,
        "loop_s": loop_s,
        "loop_slice_clients": args.loop_clients,
        "loop_slice_s": loop_slice_s,
        "pandas_s": pandas_s,
        "duckdb_s": duckdb_s,
        "floor_s": floor_s,
        "copy_bandwidth_gb_s": bandwidth / 1e9,
        "engine_vs_loop": loop_s / engine_s,
        "engine_vs_pandas": pandas_s / engine_s,
        "engine_vs_duckdb": duckdb_s / engine_s,
        "max_abs_score_diff": {
            "loop": agree_loop,
            "pandas": float(np.nanmax(np.abs(pd_score - ev.score))),
            "duckdb": float(np.nanmax(np.abs(db_score - ev.score))),
        },
        **store,
    }
    report(results, args.repeat)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["engine"] = results
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


def report(r: dict[str, Any], repeat: int) -> None:
    print(
        f"\nmedians of {repeat} runs unless noted; {r['events']:,} events, {r['clients']:,} clients"
    )
    rows = [
        ("engine, bench4 scorecard (in memory)", r["engine_s"], ""),
        ("engine, shipped default scorecard", r["engine_default_scorecard_s"], ""),
        (
            f"per-client loop (1 run on {r['loop_slice_clients']:,} clients, scaled)",
            r["loop_s"],
            f"engine is {r['engine_vs_loop']:.0f}× faster",
        ),
        ("pandas group-bys", r["pandas_s"], f"engine is {r['engine_vs_pandas']:.1f}× faster"),
        ("DuckDB SQL (2 threads)", r["duckdb_s"], f"engine is {r['engine_vs_duckdb']:.1f}× faster"),
        (f"memory floor ({r['copy_bandwidth_gb_s']:.1f} GB/s copy)", r["floor_s"], ""),
    ]
    for name, seconds, note in rows:
        print(f"  {name:<58} {seconds:8.3f} s  {note}")
    diffs = r["max_abs_score_diff"]
    print(
        "  max |score difference| vs engine: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
    )
    print(f"\nstore round trip, {r['store_clients']:,} clients × 100 events on SQLite:")
    for key in ("store_load_s", "store_evaluate_s", "store_persist_s", "store_total_s"):
        print(f"  {key.removeprefix('store_').removesuffix('_s'):<10} {r[key]:8.3f} s")


if __name__ == "__main__":
    main()
