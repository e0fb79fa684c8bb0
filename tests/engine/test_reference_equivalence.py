"""The vectorized scorer equals its plain reference on random scorecards and random signals.

Hypothesis draws scorecards from valid values (every aggregate, measure, where, window, curve,
missing policy, cap, floor and segment override) and signals on a coarse time grid, so that ties in
time, windows' edges, ends after ``as_of`` and stale sources all come up. Derandomized: the same
examples run every time. Record times (``recorded_at``) fall before, at and after both an event's
``ts`` and ``as_of``, so "visible as of T" is held equal too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scorer_builders import AS_OF, AT, GRADES, HOUR

from rapport.engine.fields import flags_of, measures_of
from rapport.engine.frame import Categorical, ClientSet, KindFrame, SignalSet
from rapport.engine.model import Scorecard
from rapport.engine.reference import evaluate_reference
from rapport.engine.result import Evaluation
from rapport.engine.scoring import evaluate

#: Attribute vocabularies per kind (None: the event lacks the attribute).
ATTRS: dict[str, dict[str, list[str | None]]] = {
    "response_time": {"channel": ["email", "chat", None]},
    "milestone": {"project": ["p", "q", None]},
    "survey": {"scale": ["nps", "nps", "csat", "1..7", None, "bogus"]},
    "incident": {"severity": ["sev1", "sev2", "sev3", None]},
    "metric": {"team": ["a", "b", None]},
}
KINDS = tuple(ATTRS)
WINDOWS = [None, "6h", "1d", "3d", "7d", None, "7d"]
COUNTING_OR_SUM = ["count", "sum", "ratio"]
VALUED = ["mean", "median", "min", "max", "latest", "trend", "p1", "p25", "p90", "p99"]
SEGMENTS = [None, "ent", "smb", "elsewhere"]
STEP = 6 * HOUR  # events fall on a 6-hour grid, so equal times are common


@st.composite
def wheres(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    where: dict[str, Any] = {}
    for attr, vocabulary in ATTRS[kind].items():
        texts = sorted({v for v in vocabulary if v is not None})
        if draw(st.integers(0, 2)) == 0:
            chosen = draw(st.lists(st.sampled_from(texts), min_size=1, max_size=2, unique=True))
            where[attr] = chosen[0] if len(chosen) == 1 and draw(st.booleans()) else chosen
    for flag in flags_of(kind):
        if draw(st.integers(0, 4)) == 0:
            where[flag] = draw(st.booleans())
    return where


@st.composite
def measurements(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    names = COUNTING_OR_SUM + VALUED + (["nps"] if kind == "survey" else [])
    aggregate = draw(st.sampled_from(names))
    spec: dict[str, Any] = {"signal": kind, "aggregate": aggregate}
    attr, vocabulary = next(iter(ATTRS[kind].items()))
    if draw(st.integers(0, 4)) == 0:
        keys = sorted({v for v in vocabulary if v is not None})
        lookup = draw(st.dictionaries(st.sampled_from(keys), st.integers(-5, 10), min_size=1))
        spec["measure"] = {"from": attr, "map": lookup}
    else:
        numeric = set(measures_of(kind)) - (
            {"value"} if kind in ("milestone", "incident") else set()
        )
        spec["measure"] = draw(st.sampled_from(sorted(numeric)))
    spec["where"] = draw(wheres(kind))
    if aggregate == "ratio":
        spec["numerator"] = draw(wheres(kind))
    spec["window"] = draw(st.sampled_from(WINDOWS))
    spec["min_count"] = draw(st.integers(1, 3))
    return {k: v for k, v in spec.items() if v is not None}


@st.composite
def curves(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(["bands", "points", "linear"]))
    if shape == "linear":
        best, worst = draw(st.lists(st.integers(-20, 120), min_size=2, max_size=2, unique=True))
        return {"linear": {"best": best, "worst": worst}}
    cuts = sorted(draw(st.lists(st.integers(-30, 120), min_size=1, max_size=4, unique=True)))
    points = [draw(st.integers(-10, 110)) for _ in range(len(cuts) + 1)]
    if shape == "points":
        return {"points": [[x, p] for x, p in zip(cuts, points, strict=False)]}
    bands: list[dict[str, Any]] = [{"points": p} for p in points]
    for i, cut in enumerate(cuts):
        # Each cut is held by exactly one side: the band below (at_most, then above) or the band
        # above (max or below, then min or at_least), so inclusive ends are drawn too.
        if draw(st.booleans()):
            bands[i]["at_most"], bands[i + 1]["above"] = cut, cut
        else:
            bands[i][draw(st.sampled_from(["max", "below"]))] = cut
            bands[i + 1][draw(st.sampled_from(["min", "at_least"]))] = cut
    if draw(st.booleans()):  # close the ends: values beyond them take the nearest band
        bands = bands[1:-1] or bands
    return {"bands": [{k: v for k, v in b.items() if v is not None} for b in bands]}


POLICIES = st.one_of(
    st.just("skip"),
    st.builds(lambda x: {"neutral": x}, st.integers(0, 100)),
    st.builds(lambda d: {"carry": d}, st.sampled_from(["12h", "2d", "10d"])),
)


@st.composite
def components(draw: st.DrawFn) -> dict[str, Any]:
    return {
        **draw(measurements()),
        "weight": draw(st.integers(0, 5)),
        "curve": draw(curves()),
        "missing": draw(POLICIES),
    }


@st.composite
def conditions(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    source = (
        {"component": draw(st.sampled_from(ids))} if draw(st.booleans()) else draw(measurements())
    )
    op = draw(st.sampled_from(["above", "below", "at_least", "at_most"]))
    return {**source, op: draw(st.integers(-2, 60))}


@st.composite
def overrides(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    segment: dict[str, Any] = {}
    if draw(st.booleans()):
        segment["weights"] = draw(st.dictionaries(st.sampled_from(ids), st.integers(0, 5)))
    changed = draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))
    patches = {}
    for cid in changed:
        choice = draw(st.sampled_from(["window", "curve", "missing", "measurement"]))
        if choice == "window":
            patches[cid] = {"window": draw(st.sampled_from(["6h", "1d", "3d", "7d"]))}
        elif choice == "curve":
            patches[cid] = {"curve": draw(curves())}
        elif choice == "missing":
            patches[cid] = {"missing": draw(POLICIES)}
        else:
            patches[cid] = draw(measurements())
    if patches:
        segment["components"] = patches
    return segment


@st.composite
def scorecards(draw: st.DrawFn) -> Scorecard:
    count = draw(st.integers(1, 4))
    ids = [f"c{i}" for i in range(count)]
    body: dict[str, Any] = {
        "version": 1,
        "grades": GRADES,
        "signals": {"metric": {"attrs": ["team"]}},
        "components": {cid: draw(components()) for cid in ids},
    }
    body["caps"] = [
        {
            "id": f"cap{k}",
            "reason": "r",
            "when": draw(conditions(ids)),
            "max": draw(st.integers(0, 100)),
        }
        for k in range(draw(st.integers(0, 2)))
    ]
    body["floors"] = [
        {
            "id": f"floor{k}",
            "reason": "r",
            "when": draw(conditions(ids)),
            "min": draw(st.integers(0, 100)),
        }
        for k in range(draw(st.integers(0, 2)))
    ]
    body["segments"] = {
        name: draw(overrides(ids)) for name in ("ent", "smb") if draw(st.booleans())
    }
    # Coverages are multiples of small weight sums, so round thresholds land on them exactly.
    body["min_coverage"] = draw(st.sampled_from([0, 0, 0.25, 0.5, 2 / 3, 1]))
    return Scorecard.model_validate(body)


@st.composite
def kind_frames(draw: st.DrawFn, kind: str, n_clients: int) -> KindFrame:
    size = draw(st.integers(0, 30)) if n_clients else 0
    client = [draw(st.integers(0, n_clients - 1)) for _ in range(size)]
    if draw(st.booleans()):  # grouped by client, as the store loads rows
        client.sort()
    # Negative steps are after as_of; many events crowd the last day, where windows end.
    steps = [draw(st.one_of(st.integers(-2, 3), st.integers(-2, 30))) for _ in range(size)]
    ts = [AT - s * STEP if draw(st.integers(0, 40)) else np.nan for s in steps]  # NaN: no time
    if kind in ("milestone", "incident"):
        low = -3 if kind == "milestone" else 0  # a milestone may be delivered early
        ends = [draw(st.one_of(st.none(), st.integers(low, 30))) for _ in range(size)]
        end = [np.nan if e is None else t + e * STEP for t, e in zip(ts, ends, strict=True)]
        value = [np.nan] * size
    else:
        end = [np.nan] * size
        value = [draw(st.integers(-20, 100)) / 2 for _ in range(size)]
        value = [v if draw(st.integers(0, 9)) else np.nan for v in value]
    attrs = {
        name: Categorical.from_values(draw(st.sampled_from(vocabulary)) for _ in range(size))
        for name, vocabulary in ATTRS[kind].items()
    }
    recorded = draw(recorded_times(ts)) if draw(st.integers(0, 3)) else None
    return KindFrame(
        np.array(client, dtype=np.int32),
        np.array(ts, dtype=np.float64),
        np.array(end, dtype=np.float64),
        np.array(value, dtype=np.float64),
        attrs,
        recorded,
    )


@st.composite
def recorded_times(draw: st.DrawFn, ts: list[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """When each event became known: before, at or after its ``ts`` (a late entry), before, at or
    after ``as_of`` (recorded after as_of: not yet known), or NaN (known from its ``ts``)."""

    def one(t: float) -> float:
        base = draw(st.sampled_from(["ts", "ts", "as_of", "none"]))
        if base == "none":
            return np.nan
        origin = AT if base == "as_of" or np.isnan(t) else t
        return origin + draw(st.integers(-3, 12)) * STEP

    return np.array([one(t) for t in ts], dtype=np.float64)


@st.composite
def populations(draw: st.DrawFn) -> tuple[ClientSet, SignalSet]:
    n = draw(st.sampled_from([0, 1, 2, 2, 3, 3, 4, 4]))
    segments = [draw(st.sampled_from(SEGMENTS)) for _ in range(n)]
    kinds = {kind: draw(kind_frames(kind, n)) for kind in KINDS if draw(st.integers(0, 5))}
    stale = {
        kind: np.array([draw(st.integers(0, 4)) == 0 for _ in range(n)], dtype=np.bool_)
        for kind in KINDS
        if draw(st.booleans())
    }
    covered = {  # clients a fresh collector of the kind maps: no events there is a measured 0
        kind: np.array([draw(st.booleans()) for _ in range(n)], dtype=np.bool_)
        for kind in KINDS
        if draw(st.booleans())
    }
    signals = SignalSet(kinds, stale, covered)
    return ClientSet.of([f"c{i}" for i in range(n)], segments), signals


def assert_same(fast: Evaluation, slow: Evaluation) -> None:
    for name in ("score", "provisional", "coverage", "raw", "points", "weight"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.shape == b.shape, name
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True), (name, a, b)
    for name in ("grade", "insufficient", "status", "limit_applied"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert fast.notes == slow.notes
    assert fast.limit_ids == slow.limit_ids
    assert np.array_equal(fast.limit_values, slow.limit_values)


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scorecard=scorecards(), population=populations())
def test_vectorized_scorer_equals_the_reference(
    scorecard: Scorecard, population: tuple[ClientSet, SignalSet]
) -> None:
    clients, signals = population
    fast = evaluate(scorecard, clients, signals, AS_OF, "prop")
    slow = evaluate_reference(scorecard, clients, signals, AS_OF, "prop")
    assert_same(fast, slow)
    # Points are clipped to the scale and caps and floors stay inside it here, so the score does.
    scored = fast.score[~np.isnan(fast.score)]
    assert np.all((scored >= scorecard.scale.min) & (scored <= scorecard.scale.max))
    assert np.all((fast.grade >= 0) == ~np.isnan(fast.score))
    assert np.all((fast.coverage >= 0) & (fast.coverage <= 1))
    assert np.all(fast.insufficient == (fast.coverage < scorecard.min_coverage))
    assert not np.any(fast.insufficient & ~np.isnan(fast.score))
