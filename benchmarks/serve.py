"""``make bench``: the service at scale, on SQLite and on PostgreSQL.

For N clients × 100 events in a real store (the synthetic book of ``benchmarks.data``, seeded in
bulk by ``benchmarks.book``, with every client's score stored a week and a month back; the bench4
scorecard): ``serve``'s cold start (rules, the first full load into memory, scoring, the first
history rows), the load's rows per second against today's whole-table ``Store.signal_set``, the
re-score after a 1,000-signal ingest until the new snapshot is what the API serves (the
evaluation itself, a minute after the previous one; the debounce, ``RAPPORT_EVALUATE_DEBOUNCE``,
waits before it), and the history
rows a steady book writes per client per day (two days of 15-minute evaluations through the
history writer). Merged into ``benchmarks/results.json`` under ``serve``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from benchmarks.book import fill
from benchmarks.data import AS_OF
from rapport.api.app import build_service
from rapport.api.events import Evaluated
from rapport.api.history_writer import HistoryWriter
from rapport.api.settings import Settings
from rapport.engine.loader import load_scorecard
from rapport.engine.scoring import evaluate
from rapport.signals.model import StoredSignal
from rapport.signals.store import Store

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of its own, dropped afterwards."""
    name = f"rapport_bench_serve_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ingest_batch(ids: tuple[str, ...], count: int, at: datetime) -> list[StoredSignal]:
    """``count`` new response times for clients spread over the book, an hour before ``at``."""
    rng = np.random.default_rng(11)
    chosen = rng.choice(len(ids), size=count, replace=False)
    return [
        StoredSignal(
            event_id=f"new:{i}",
            client=ids[c],
            kind="response_time",
            ts=at - timedelta(hours=1),
            value=float(rng.integers(1, 90)),
            attrs={"channel": "email"},
            source="bench",
            recorded_at=at - timedelta(hours=1),
        )
        for i, c in enumerate(chosen.tolist())
    ]


def measure(url: str, clients: int, rules: Path, outbox: Path, repeat: int) -> dict[str, Any]:
    with Store.open(url) as store:
        started = time.perf_counter()
        ids, events, signals = fill(store, url, clients)
        # A steady book has history: every client's score a week and a month back, so the
        # changes (7d, 30d) read real rows, as they do in service.
        scorecard = load_scorecard(rules / "scorecard.yaml")
        for back in (timedelta(days=7, hours=12), timedelta(days=30, hours=12)):
            store.save_evaluation(evaluate(scorecard, ids, signals, AS_OF - back, "bench"))
        del signals
        setup_s = time.perf_counter() - started

        t0 = time.perf_counter()
        full = store.signal_set(store.client_set(), until=AS_OF)
        full_s = time.perf_counter() - t0
        full_rows = sum(len(f) for f in full.kinds.values())
        del full

        settings = Settings(database_url=url, rules_dir=rules, watch_rules=False, outbox_dir=outbox)
        clock = [AS_OF]
        service = build_service(settings, store=store, clock=lambda: clock[0])
        t0 = time.perf_counter()
        service.start()
        cold_s = time.perf_counter() - t0
        memory = service.evaluator._memory
        assert memory is not None
        kept_rows = sum(len(f) for f in memory._built.frames.values())  # type: ignore[union-attr]

        rescore = []
        for n in range(repeat):
            clock[0] += timedelta(minutes=1)  # as the clock moves between ingests
            batch = [
                replace(s, event_id=f"{s.event_id}:{n}") for s in ingest_batch(ids.ids, 1000, AS_OF)
            ]
            store.upsert_signals(batch)
            t0 = time.perf_counter()
            snapshot = service.evaluator.evaluate_now()
            rescore.append(time.perf_counter() - t0)
        assert service.evaluator.snapshot is snapshot
        service.stop()
        load_s = memory_load_seconds(store, service)
        rows_per_day = history_rows_per_day(store, snapshot.evaluation)
    return {
        "clients": clients,
        "events": events,
        "setup_s": setup_s,
        "full_load_s": full_s,
        "full_load_rows_per_s": full_rows / full_s,
        "cold_start_s": cold_s,
        "rows_in_memory": kept_rows,
        "load_rows_per_s": kept_rows / load_s,
        "memory_load_s": load_s,
        "rescore_after_ingest_s": statistics.median(rescore),
        "history_rows_per_day": rows_per_day,
    }


def memory_load_seconds(store: Store, service: Any) -> float:
    """One full load into memory again (what a restart or a rules change costs)."""
    memory = service.evaluator._memory
    built = memory._built
    memory.invalidate()
    t0 = time.perf_counter()
    memory.signal_set(built.clients, built.reach, built.at)
    return time.perf_counter() - t0


def history_rows_per_day(store: Store, evaluation: Any) -> float:
    """Rows per client per day the writer stores for a steady book: two days of evaluations
    every 15 minutes; the second day counted (the first includes the start's rows)."""
    writer = HistoryWriter(store)
    day = timedelta(days=1)
    start = datetime(2026, 7, 1, tzinfo=UTC)
    for step in range(96 * 2):
        at = start + step * timedelta(minutes=15)
        if step == 96:
            before = writer.rows_written
        writer(Evaluated(replace(evaluation, as_of=at), (), {}))
    del day
    return (writer.rows_written - before) / len(evaluation.clients)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__)
    parser.add_argument("--clients", type=int, default=100_000, help="clients (100 events each)")
    parser.add_argument("--repeat", type=int, default=5, help="ingest + re-score rounds")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        rules.mkdir()
        shutil.copy(HERE / "scorecard.yaml", rules / "scorecard.yaml")
        for backend in args.backends.split(","):
            if backend == "sqlite":
                figures[backend] = measure(
                    f"sqlite:///{tmp}/serve.db", args.clients, rules, Path(tmp) / "o", args.repeat
                )
            else:
                with postgres_url() as url:
                    figures[backend] = measure(
                        url, args.clients, rules, Path(tmp) / "o", args.repeat
                    )
            report(backend, figures[backend])
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # Backends not run this time keep their figures, as do benchmarks/load.py's.
    serve = merged.setdefault("serve", {})
    serve["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for key in (
        "rescore_after_ingest_s",
        "cold_start_s",
        "load_rows_per_s",
        "history_rows_per_day",
    ):
        for b, f in figures.items():
            serve.setdefault(key, {})[b] = {
                "value": f[key],
                "clients": f["clients"],
                "events": f["events"],
                "measured_at": serve["measured_at"],
            }
    for b, f in figures.items():
        serve.setdefault("detail", {})[b] = f  # fmt: skip
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


def report(backend: str, f: dict[str, Any]) -> None:
    rows = [
        ("cold start (rules, load, score, history)", f"{f['cold_start_s']:.2f} s (target 30 s)"),
        ("re-score after 1,000 new signals", f"{f['rescore_after_ingest_s']:.3f} s (target 1 s)"),
        (f"load into memory ({f['rows_in_memory']:,} rows)", f"{f['load_rows_per_s']:,.0f} rows/s"),
        (f"full load ({f['full_load_s']:.2f} s)", f"{f['full_load_rows_per_s']:,.0f} rows/s"),
        ("history rows per client per day, steady", f"{f['history_rows_per_day']:.2f} (target 2)"),
    ]  # fmt: skip
    print(f"\nserve on {backend}: {f['clients']:,} clients, {f['events']:,} events")
    for name, figure in rows:
        print(f"  {name:<44} {figure}")


if __name__ == "__main__":
    main()
