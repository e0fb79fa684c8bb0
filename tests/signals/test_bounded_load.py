"""Loading only what a scorecard reads scores exactly as loading every signal.

Hypothesis draws scorecards over windows, carries, all-history counts of open events, counts and
sums (whose "no events" is a measured zero only for a client that has had one), caps and floors,
and signals spread far beyond every window, open or closed before, at or after the instant, and
recorded late. Each is scored as of a few instants from a full load (``reach=None``) and from the
bounded one (``engine.lookback.reach_of``); every array, note and limit must be equal.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.engine.lookback import KindReach, reach_of
from rapport.engine.model import Scorecard
from rapport.engine.result import Evaluation
from rapport.engine.scoring import evaluate
from rapport.signals.model import Client, StoredSignal
from rapport.signals.store import Store

AT = datetime(2026, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)
CLIENTS = ("a", "b", "c")
GRADES = [{"name": "good", "min": 50, "color": "green"}, {"name": "bad", "min": 0, "color": "red"}]
MEASURES = {"incident": "duration_hours", "milestone": "late_days", "response_time": "value"}
WHERES = {
    "incident": [{}, {"open": True}, {"severity": "sev1"}, {"severity": "sev1", "open": True}],
    "milestone": [{}, {"open": True}, {"delivered": False}, {"missed": True}],
    "response_time": [{}, {"channel": "chat"}],
}
_counter = itertools.count()


@st.composite
def measurements(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(MEASURES)))
    aggregate = draw(st.sampled_from(["count", "sum", "mean", "latest", "ratio", "p90", "max"]))
    spec: dict[str, Any] = {
        "signal": kind,
        "aggregate": aggregate,
        "measure": MEASURES[kind],
        "where": draw(st.sampled_from(WHERES[kind])),
    }
    if aggregate == "ratio":
        spec["numerator"] = draw(st.sampled_from(WHERES[kind]))
    window = draw(st.sampled_from([None, None, "1d", "7d", "30d"]))
    if window is not None:
        spec["window"] = window
    return spec


@st.composite
def scorecards(draw: st.DrawFn) -> Scorecard:
    components = {}
    for i in range(draw(st.integers(1, 3))):
        missing = draw(
            st.sampled_from(["skip", {"neutral": 40}, {"carry": "2d"}, {"carry": "20d"}])
        )
        components[f"c{i}"] = {
            **draw(measurements()),
            "weight": draw(st.integers(1, 3)),
            "curve": {"linear": {"best": 0, "worst": 20}},
            "missing": missing,
        }
    caps = [
        {"id": f"cap{k}", "reason": "r", "max": 30, "when": {**draw(measurements()), "above": 0}}
        for k in range(draw(st.integers(0, 2)))
    ]
    segments = {}
    if draw(st.booleans()):
        segments["ent"] = {"components": {"c0": {"window": draw(st.sampled_from(["3d", "60d"]))}}}
    body = {"version": 1, "grades": GRADES, "components": components, "caps": caps}
    return Scorecard.model_validate({**body, "segments": segments})


@st.composite
def signals(draw: st.DrawFn) -> list[StoredSignal]:
    out = []
    for n in range(draw(st.integers(0, 60))):
        kind = draw(st.sampled_from(sorted(MEASURES)))
        # Mostly within a few windows, some far beyond every one, a few after the instant.
        days = draw(st.one_of(st.integers(-3, 12), st.integers(-3, 40), st.integers(40, 400)))
        ts = AT - days * DAY + draw(st.sampled_from([timedelta(0), timedelta(hours=7)]))
        end = None
        value = None
        attrs: dict[str, str] = {}
        if kind in ("incident", "milestone"):
            closes = draw(st.one_of(st.none(), st.integers(-2, 60)))
            end = None if closes is None else ts + closes * DAY
            if kind == "incident":
                attrs["severity"] = draw(st.sampled_from(["sev1", "sev2"]))
        else:
            value = float(draw(st.integers(0, 30)))
            attrs["channel"] = draw(st.sampled_from(["chat", "email"]))
        late = draw(st.sampled_from([0, 0, 0, 2, 30]))
        out.append(
            StoredSignal(
                event_id=f"e{n}",
                client=draw(st.sampled_from(CLIENTS)),
                kind=kind,
                ts=ts,
                end=end,
                value=value,
                attrs=attrs,
                source="test",
                recorded_at=ts + late * DAY,
            )
        )
    return out


def assert_same(bounded: Evaluation, full: Evaluation) -> None:
    for name in ("score", "provisional", "coverage", "raw", "points", "weight"):
        a, b = getattr(bounded, name), getattr(full, name)
        assert np.allclose(a, b, rtol=0, atol=0, equal_nan=True), (name, a, b)
    for name in ("grade", "insufficient", "status", "limit_applied"):
        assert np.array_equal(getattr(bounded, name), getattr(full, name)), name
    assert bounded.notes == full.notes


def scored_both_ways(store: Store, scorecard: Scorecard, as_of: datetime) -> None:
    clients = store.client_set()
    reach = reach_of(scorecard)
    full = store.signal_set(clients, until=as_of)
    bounded = store.signal_set(clients, until=as_of, reach=reach)
    assert_same(
        evaluate(scorecard, clients, bounded, as_of, "v"),
        evaluate(scorecard, clients, full, as_of, "v"),
    )


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scorecard=scorecards(), stored=signals())
def test_the_bounded_load_scores_as_the_full_load(
    tmp_path: Path, scorecard: Scorecard, stored: list[StoredSignal]
) -> None:
    with Store.open(f"sqlite:///{tmp_path}/s{next(_counter)}.db") as store:
        store.upsert_clients(
            [Client(id=c, name=c, segment="ent" if c == "a" else None) for c in CLIENTS]
        )
        if stored:
            store.upsert_signals(stored)
        for as_of in (AT, AT - 5 * DAY, AT - timedelta(hours=7)):
            scored_both_ways(store, scorecard, as_of)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param(
            {
                "signal": "incident",
                "aggregate": "sum",
                "measure": "duration_hours",
                "window": "30d",
            },
            {"incident": KindReach(30 * 86400.0, anchor=True)},
            id="a windowed sum reaches its window and needs to know who has had an event",
        ),
        pytest.param(
            {"signal": "milestone", "aggregate": "count", "where": {"open": True}},
            {"milestone": KindReach(0.0, open_before=True, anchor=True)},
            id="an all-history count of open events reads only events still open",
        ),
        pytest.param(
            {"signal": "milestone", "aggregate": "count", "where": {"missed": True}},
            {"milestone": KindReach(None)},
            id="an all-history count of missed milestones reads everything",
        ),
        pytest.param(
            {
                "signal": "response_time",
                "aggregate": "p90",
                "window": "7d",
                "missing": {"carry": "2d"},
            },
            {"response_time": KindReach(9 * 86400.0)},
            id="a carry reaches its window further back by the carry",
        ),
    ],
)
def test_reach_per_kind(rules: dict[str, Any], expected: dict[str, KindReach]) -> None:
    component = {"weight": 1, "curve": {"linear": {"best": 0, "worst": 9}}, **rules}
    scorecard = Scorecard.model_validate(
        {"version": 1, "grades": GRADES, "components": {"x": component}}
    )
    assert reach_of(scorecard) == expected


def test_the_bounded_load_reads_fewer_rows_on_both_backends(store: Store) -> None:
    store.upsert_clients([Client(id="a", name="a")])
    old = [
        StoredSignal(
            event_id=f"r{d}",
            client="a",
            kind="response_time",
            ts=AT - d * DAY,
            value=1.0,
            source="t",
            recorded_at=AT - d * DAY,
        )
        for d in range(100)
    ]
    store.upsert_signals(old)
    scorecard = Scorecard.model_validate(
        {
            "version": 1,
            "grades": GRADES,
            "components": {
                "x": {"signal": "response_time", "aggregate": "count", "window": "10d",
                      "weight": 1, "curve": {"linear": {"best": 0, "worst": 9}}},
            },
        }
    )  # fmt: skip
    bounded = store.signal_set(store.client_set(), until=AT, reach=reach_of(scorecard))
    # the ten days inside the window (ts > AT - 10d), and one anchor for the older ones
    assert len(bounded.frame("response_time")) == 10 + 1
    scored_both_ways(store, scorecard, AT)


def one(kind: str, days: float, **fields: Any) -> StoredSignal:
    ts = AT - days * DAY
    return StoredSignal(
        event_id=f"{kind}{days}", client="a", kind=kind, ts=ts, source="t", recorded_at=ts, **fields
    )


@pytest.mark.parametrize(
    ("component", "stored"),
    [
        pytest.param(
            {
                "signal": "response_time",
                "aggregate": "mean",
                "window": "7d",
                "missing": {"carry": "20d"},
            },
            [one("response_time", 10, value=3.0)],
            id="a value carried from a signal older than the window",
        ),
        pytest.param(
            {"signal": "milestone", "aggregate": "count", "where": {"open": True}},
            [one("milestone", 300), one("milestone", 200, end=AT - 100 * DAY), one("milestone", 2)],
            id="a milestone open since long ago still counts",
        ),
        pytest.param(
            {
                "signal": "incident",
                "aggregate": "count",
                "window": "7d",
                "where": {"severity": "sev1"},
            },
            [one("incident", 100, end=AT - 99 * DAY, attrs={"severity": "sev2"})],
            id="an old incident makes no incidents a measured zero",
        ),
        pytest.param(
            {"signal": "milestone", "aggregate": "ratio", "numerator": {"missed": True}},
            [one("milestone", 300, end=AT - 250 * DAY), one("milestone", 3)],
            id="an all-history ratio reads every milestone",
        ),
    ],
)
def test_known_traps_score_the_same(
    store: Store, component: dict[str, Any], stored: list[StoredSignal]
) -> None:
    store.upsert_clients([Client(id="a", name="a"), Client(id="b", name="b")])
    store.upsert_signals(stored)
    body = {"weight": 1, "curve": {"linear": {"best": 0, "worst": 9}}, **component}
    scorecard = Scorecard.model_validate(
        {"version": 1, "grades": GRADES, "components": {"x": body}}
    )
    for as_of in (AT, AT - 50 * DAY):
        scored_both_ways(store, scorecard, as_of)
