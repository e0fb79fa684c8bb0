"""``make bench``: the engine against polars, a plain Python loop, the reference engine, pandas and
DuckDB, the memory floor, and the store round trip — all measured in this one run, at 10M events
and (engine, polars, plain loop) at 1M; medians printed; figures in results.json."""

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

from benchmarks import baselines, rivals
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


def rivals_at(
    args: argparse.Namespace,
    scorecard: Any,
    clients: Any,
    signals: Any,
    few: Any,
    few_signals: Any,
    ev: Any,
) -> dict[str, Any]:
    """polars at both sizes, the engine at 1M, and the plain loop at 1M (scaled linearly to the
    full size: its cost is per client), each checked against the engine's scores."""
    as_of = AS_OF.timestamp()
    n, m = args.clients, args.loop_clients
    frames = rivals.polars_frames(signals)  # built outside the timed part, as for pandas
    polars_s, pl_score = median_seconds(lambda: rivals.polars_scores(n, frames, as_of), args.repeat)
    few_ev = evaluate(scorecard, few, few_signals, AS_OF, "bench")
    engine_1m_s, _ = median_seconds(
        lambda: evaluate(scorecard, few, few_signals, AS_OF, "bench"), args.repeat
    )
    few_frames = rivals.polars_frames(few_signals)
    polars_1m_s, pl_few = median_seconds(
        lambda: rivals.polars_scores(m, few_frames, as_of), args.repeat
    )
    book = rivals.histories(few_signals, m)
    loop_repeat = max(1, args.repeat // 2)
    loop_1m_s, loop_score = median_seconds(
        lambda: rivals.plain_loop_scores(book, as_of), loop_repeat
    )
    return {
        "polars_s": polars_s,
        "plain_loop_s": loop_1m_s * n / m,
        "plain_loop_scaled_from_clients": m,
        "plain_loop_repeat": loop_repeat,
        "at_1m": {
            "events": event_count(few_signals),
            "clients": m,
            "engine_s": engine_1m_s,
            "polars_s": polars_1m_s,
            "plain_loop_s": loop_1m_s,
        },
        "diffs": {
            "polars": float(np.nanmax(np.abs(pl_score - ev.score))),
            "polars_1m": float(np.nanmax(np.abs(pl_few - few_ev.score))),
            "plain_loop_1m": float(np.nanmax(np.abs(loop_score - few_ev.score))),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--clients", type=int, default=100_000, help="clients (100 events each)")
    parser.add_argument(
        "--loop-clients", type=int, default=10_000, help="slice for the loops (and the 1M run)"
    )
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
    ref_start = time.perf_counter()
    ref = evaluate_reference(bench4, few, few_signals, AS_OF, "bench")
    ref_slice_s = time.perf_counter() - ref_start
    ref_s = ref_slice_s * args.clients / args.loop_clients
    agree_ref = float(np.nanmax(np.abs(ref.score - ev.score[: args.loop_clients])))
    fast = rivals_at(args, bench4, clients, signals, few, few_signals, ev)

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
        "reference_s": ref_s,
        "reference_slice_clients": args.loop_clients,
        "reference_slice_s": ref_slice_s,
        **fast,
        "pandas_s": pandas_s,
        "duckdb_s": duckdb_s,
        "floor_s": floor_s,
        "copy_bandwidth_gb_s": bandwidth / 1e9,
        "engine_vs_reference": ref_s / engine_s,
        "engine_vs_polars": fast["polars_s"] / engine_s,
        "engine_vs_plain_loop": fast["plain_loop_s"] / engine_s,
        "engine_vs_pandas": pandas_s / engine_s,
        "engine_vs_duckdb": duckdb_s / engine_s,
        "max_abs_score_diff": {
            "reference": agree_ref,
            **fast.pop("diffs"),
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
            "polars lazy group_by (2 threads)",
            r["polars_s"],
            f"engine is {r['engine_vs_polars']:.2f}× faster",
        ),
        (
            f"plain Python loop ({r['plain_loop_repeat']} runs on 1M events, ×10)",
            r["plain_loop_s"],
            f"engine is {r['engine_vs_plain_loop']:.0f}× faster",
        ),
        (
            f"reference engine (1 run on {r['reference_slice_clients']:,} clients, scaled)",
            r["reference_s"],
            f"engine is {r['engine_vs_reference']:.0f}× faster",
        ),
        ("pandas group-bys", r["pandas_s"], f"engine is {r['engine_vs_pandas']:.1f}× faster"),
        ("DuckDB SQL (2 threads)", r["duckdb_s"], f"engine is {r['engine_vs_duckdb']:.1f}× faster"),
        (f"memory floor ({r['copy_bandwidth_gb_s']:.1f} GB/s copy)", r["floor_s"], ""),
    ]
    for name, seconds, note in rows:
        print(f"  {name:<58} {seconds:8.3f} s  {note}")
    small = r["at_1m"]
    print(
        f"  at {small['events']:,} events: engine {small['engine_s']:.4f} s, polars "
        f"{small['polars_s']:.4f} s ({small['polars_s'] / small['engine_s']:.2f}×), plain loop "
        f"{small['plain_loop_s']:.3f} s ({small['plain_loop_s'] / small['engine_s']:.0f}×)"
    )
    diffs = r["max_abs_score_diff"]
    print(
        "  max |score difference| vs engine: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
    )
    print(f"\nstore round trip, {r['store_clients']:,} clients × 100 events on SQLite:")
    for key in ("store_load_s", "store_evaluate_s", "store_persist_s", "store_total_s"):
        print(f"  {key.removeprefix('store_').removesuffix('_s'):<10} {r[key]:8.3f} s")


if __name__ == "__main__":
    main()
