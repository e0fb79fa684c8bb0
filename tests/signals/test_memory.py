"""The service's in-memory signal arrays score exactly as a load from the store.

Hypothesis runs random programs — ingest new signals, revise stored ones (a milestone delivered,
an incident resolved, an event moved earlier or later), let time pass, change the rules — and
after every step scores the clients from ``SignalMemory`` and from the store's bounded load, and
compares the newest signal times it keeps with the store's (itself held equal to the full
load by ``test_bounded_load``). A second store on the same database stands in for another
process: ``rapport import`` or a replica.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_bounded_load import AT, CLIENTS, DAY, assert_same, scorecards, signals

from rapport.engine.lookback import reach_of
from rapport.engine.model import Scorecard
from rapport.engine.scoring import evaluate
from rapport.signals.memory import SignalMemory
from rapport.signals.model import Client, StoredSignal
from rapport.signals.store import Store

_counter = itertools.count()


def scored_from_memory_and_store(
    memory: SignalMemory, store: Store, scorecard: Scorecard, as_of: Any
) -> None:
    clients = store.client_set()
    reach = reach_of(scorecard)
    kept = memory.signal_set(clients, reach, as_of)
    loaded = store.signal_set(clients, until=as_of, reach=reach)
    assert_same(
        evaluate(scorecard, clients, kept, as_of, "v"),
        evaluate(scorecard, clients, loaded, as_of, "v"),
    )


def revised(signal: StoredSignal, days: int) -> StoredSignal:
    """The same event, closed (or reopened) or with another value."""
    if signal.kind in ("incident", "milestone"):
        end = None if signal.end is not None else signal.ts + days * DAY
        return replace(signal, end=end)
    return replace(signal, value=float(days))


def moved(signal: StoredSignal, hours: int) -> StoredSignal:
    """The same event dated ``hours`` later (earlier when negative), its end moved with it."""
    shift = timedelta(hours=hours)
    return replace(
        signal, ts=signal.ts + shift, end=None if signal.end is None else signal.end + shift
    )


steps = st.one_of(
    st.tuples(st.just("ingest"), signals()),
    st.tuples(st.just("revise"), st.integers(0, 1000), st.integers(-1, 40)),
    st.tuples(st.just("move"), st.integers(0, 1000), st.sampled_from([-400, -30, 5, 300])),
    st.tuples(st.just("wait"), st.sampled_from([timedelta(hours=1), 2 * DAY, 9 * DAY])),
    st.tuples(st.just("rules"), scorecards()),
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate],  # shrinking a program of stores takes minutes
)
@given(scorecard=scorecards(), first=signals(), program=st.lists(steps, max_size=6))
def test_incremental_arrays_score_as_a_full_reload(
    tmp_path: Path, scorecard: Scorecard, first: list[StoredSignal], program: list[Any]
) -> None:
    url = f"sqlite:///{tmp_path}/m{next(_counter)}.db"
    with Store.open(url) as store, Store.open(url) as other:
        store.upsert_clients(
            [Client(id=c, name=c, segment="ent" if c == "a" else None) for c in CLIENTS]
        )
        if first:
            store.upsert_signals(first)
        stored = {(s.client, s.event_id): s for s in first}
        memory = SignalMemory(store, max_age=timedelta(days=5))
        as_of = AT - 20 * DAY
        scored_from_memory_and_store(memory, store, scorecard, as_of)
        for n, step in enumerate(program):
            if step[0] == "ingest":  # written by "another process"
                fresh = [replace(s, event_id=f"{s.event_id}-{n}") for s in step[1]]
                if fresh:
                    other.upsert_signals(fresh)
                stored.update({(s.client, s.event_id): s for s in fresh})
            elif step[0] == "revise" and stored:
                key = sorted(stored)[step[1] % len(stored)]
                stored[key] = revised(stored[key], step[2])
                store.upsert_signals([stored[key]])
            elif step[0] == "move" and stored:
                key = sorted(stored)[step[1] % len(stored)]
                stored[key] = moved(stored[key], step[2])
                other.upsert_signals([stored[key]])
            elif step[0] == "wait":
                as_of += step[1]
            elif step[0] == "rules":
                scorecard = step[1]
            scored_from_memory_and_store(memory, store, scorecard, as_of)
            assert memory.last_signal_times() == store.last_signal_times(), step


def test_a_replica_import_is_picked_up_without_a_rebuild(store_url: str) -> None:
    """Two stores on one database, as two processes: what one imports, the other's memory
    sees at its next answer — on SQLite and on PostgreSQL."""
    scorecard = Scorecard.model_validate(
        {
            "version": 1,
            "grades": [{"name": "ok", "min": 0, "color": "green"}],
            "components": {
                "volume": {"signal": "response_time", "aggregate": "count", "window": "7d",
                           "weight": 1, "curve": {"linear": {"best": 10, "worst": 0}}},
            },
        }
    )  # fmt: skip
    with Store.open(store_url) as serving, Store.open(store_url) as importing:
        serving.upsert_clients([Client(id=c, name=c) for c in CLIENTS])
        memory = SignalMemory(serving)
        clients = serving.client_set()
        reach = reach_of(scorecard)

        def counts() -> list[float]:
            signals = memory.signal_set(clients, reach, AT)
            return evaluate(scorecard, clients, signals, AT, "v").raw[:, 0].tolist()

        assert math.isnan(counts()[1])  # no signal yet: not a measured zero
        one = StoredSignal(
            event_id="r1", client="b", kind="response_time", ts=AT - DAY, value=2.0,
            source="import", recorded_at=AT - DAY,
        )  # fmt: skip
        importing.upsert_signals([one])
        assert counts()[1] == 1.0
        importing.upsert_signals([replace(one, event_id="r2")])
        assert counts()[1] == 2.0
        assert memory.rebuilds == 1
        assert memory.last_signal_times() == serving.last_signal_times()
        scored_from_memory_and_store(memory, serving, scorecard, AT)
