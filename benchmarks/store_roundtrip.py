"""Load from the store + evaluate + persist, for N clients × 100 events in a real SQLite file."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchmarks.data import AS_OF, synthetic_signals
from rapport.engine.model import Scorecard
from rapport.engine.scoring import evaluate
from rapport.signals.model import Client, StoredSignal
from rapport.signals.store import Store


def _stored(clients: tuple[str, ...], signals: Any) -> list[StoredSignal]:
    rows: list[StoredSignal] = []
    for kind, frame in signals.kinds.items():
        attrs = {name: np.asarray(col.categories)[col.codes] for name, col in frame.attrs.items()}
        for i in range(len(frame)):
            end = frame.end[i]
            value = frame.value[i]
            rows.append(
                StoredSignal(
                    event_id=f"{kind}:{i}",
                    client=clients[frame.client[i]],
                    kind=kind,
                    ts=datetime.fromtimestamp(frame.ts[i], UTC),
                    end=None if np.isnan(end) else datetime.fromtimestamp(end, UTC),
                    value=None if np.isnan(value) else float(value),
                    attrs={name: str(col[i]) for name, col in attrs.items()},
                    source="bench",
                    recorded_at=datetime.fromtimestamp(frame.ts[i], UTC),  # known as it happened
                )
            )
    return rows


def store_roundtrip(url: str, scorecard: Scorecard, clients: int, repeat: int) -> dict[str, Any]:
    client_set, signals = synthetic_signals(clients, seed=7)
    started = time.perf_counter()
    with Store.open(url) as store:
        store.upsert_clients([Client(id=c, name=c) for c in client_set.ids])
        rows = _stored(client_set.ids, signals)
        for start in range(0, len(rows), 50_000):
            store.upsert_signals(rows[start : start + 50_000])
        setup_s = time.perf_counter() - started
        load, run, persist = [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            scored = store.client_set()
            loaded = store.signal_set(scored, until=AS_OF)
            t1 = time.perf_counter()
            evaluation = evaluate(scorecard, scored, loaded, AS_OF, "bench")
            t2 = time.perf_counter()
            store.save_evaluation(evaluation)
            t3 = time.perf_counter()
            load.append(t1 - t0)
            run.append(t2 - t1)
            persist.append(t3 - t2)
    return {
        "store_clients": clients,
        "store_setup_s": setup_s,
        "store_load_s": statistics.median(load),
        "store_evaluate_s": statistics.median(run),
        "store_persist_s": statistics.median(persist),
        "store_total_s": statistics.median(
            a + b + c for a, b, c in zip(load, run, persist, strict=True)
        ),
    }
