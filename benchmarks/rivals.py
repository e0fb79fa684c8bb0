"""Two more ways to compute the bench4 scorecard (benchmarks/scorecard.yaml): polars in its best
form (lazy frames, one ``group_by`` per component, all collected together on 2 threads) and the
plain per-client Python loop a Python developer would write over pre-grouped histories (dicts,
lists, the statistics module). Both return per-client scores comparable with the engine's."""

from __future__ import annotations

import os

# polars sizes its thread pool when imported: 2 threads, as DuckDB gets, on this 2-core machine.
os.environ["POLARS_MAX_THREADS"] = "2"

import statistics
from typing import Any

import numpy as np
import polars as pl

from benchmarks.baselines import SEVERITY_POINTS, WEIGHTS, combine
from benchmarks.data import DAY
from rapport.engine.frame import SignalSet

SEVERITIES = ("sev1", "sev2", "sev3", "sev4")


def polars_frames(signals: SignalSet) -> dict[str, pl.LazyFrame]:
    """One lazy polars frame per kind, categories as ``Enum`` (built outside the timed part)."""
    rt, ms, sv, inc = (
        signals.kinds[k] for k in ("response_time", "milestone", "survey", "incident")
    )

    def enum(codes: np.ndarray, names: tuple[str, ...]) -> pl.Series:
        return pl.Series(np.asarray(names)[codes], dtype=pl.Enum(list(names)))

    scale, severity = sv.attrs["scale"], inc.attrs["severity"]
    frames = {
        "rt": pl.DataFrame({"c": rt.client, "ts": rt.ts, "v": rt.value}),
        "ms": pl.DataFrame({"c": ms.client, "ts": ms.ts, "end": ms.end}),
        "sv": pl.DataFrame({"c": sv.client, "ts": sv.ts, "v": sv.value}).with_columns(
            scale=enum(scale.codes, scale.categories)
        ),
        "inc": pl.DataFrame({"c": inc.client, "ts": inc.ts, "end": inc.end}).with_columns(
            severity=enum(severity.codes, severity.categories)
        ),
    }
    return {name: frame.lazy() for name, frame in frames.items()}


def _queries(df: dict[str, pl.LazyFrame], as_of: float) -> list[pl.LazyFrame]:
    c, ts = pl.col("c"), pl.col("ts")

    def window(days: int) -> pl.Expr:
        return (ts > as_of - days * DAY) & (ts <= as_of)

    responsiveness = (
        df["rt"]
        .filter(window(30))
        .group_by("c")
        .agg(x=pl.col("v").quantile(0.9, interpolation="linear"), n=pl.len())
        .filter(pl.col("n") >= 3)
        .select(c, "x")
    )
    delivered_by = pl.when(pl.col("end") <= as_of).then(pl.col("end")).otherwise(as_of)
    delivery = df["ms"].filter(window(90)).group_by("c").agg(x=(delivered_by > ts).mean())
    nps = pl.col("scale") == "nps"
    normalized = (pl.col("v") - pl.when(nps).then(0.0).otherwise(1.0)) / pl.when(nps).then(
        10.0
    ).otherwise(4.0)
    satisfaction = (
        df["sv"].filter(window(180)).group_by("c").agg(x=(normalized * 100).get(ts.arg_max()))
    )
    points = pl.col("severity").replace_strict(SEVERITY_POINTS, return_dtype=pl.Float64)
    stability = df["inc"].filter(window(30)).group_by("c").agg(x=points.sum())
    is_open = pl.col("end").is_null() | pl.col("end").is_nan() | (pl.col("end") > as_of)
    open_sev1 = (
        df["inc"]
        .filter((ts <= as_of) & (pl.col("severity") == "sev1") & is_open)
        .select(c.unique(), x=pl.lit(1.0))
    )
    return [responsiveness, delivery, satisfaction, stability, open_sev1]


def polars_scores(n: int, df: dict[str, pl.LazyFrame], as_of: float) -> np.ndarray:
    """The five lazy queries collected together (polars runs them in parallel), then combined."""
    names = ("responsiveness", "delivery", "satisfaction", "stability", "open_sev1")
    raw: dict[str, np.ndarray] = {}
    for name, frame in zip(names, pl.collect_all(_queries(df, as_of)), strict=True):
        out = np.full(n, 0.0 if name in ("stability", "open_sev1") else np.nan)
        out[frame["c"].to_numpy()] = frame["x"].to_numpy()
        raw[name] = out
    return combine(n, raw, raw.pop("open_sev1") > 0)


# --- the plain loop -------------------------------------------------------------------------------

History = dict[str, list[tuple[Any, ...]]]


def histories(signals: SignalSet, clients: int) -> list[History]:
    """Per client, its events per kind as lists of plain tuples (built outside the timed part:
    the Python developer's data already sits grouped by client)."""
    out: list[History] = [{"rt": [], "ms": [], "sv": [], "inc": []} for _ in range(clients)]
    kinds = {"rt": "response_time", "ms": "milestone", "sv": "survey", "inc": "incident"}
    for short, kind in kinds.items():
        frame = signals.kinds[kind]
        if short == "rt":
            rows: Any = zip(frame.ts.tolist(), frame.value.tolist(), strict=True)
        elif short == "ms":
            rows = zip(frame.ts.tolist(), frame.end.tolist(), strict=True)
        elif short == "sv":
            scale = [frame.attrs["scale"].categories[i] for i in frame.attrs["scale"].codes]
            rows = zip(frame.ts.tolist(), frame.value.tolist(), scale, strict=True)
        else:
            severity = [SEVERITIES[i] for i in frame.attrs["severity"].codes]
            rows = zip(frame.ts.tolist(), frame.end.tolist(), severity, strict=True)
        for client, row in zip(frame.client.tolist(), rows, strict=True):
            if client < clients:
                out[client][short].append(row)
    return out


def _band(x: float, edges: tuple[float, ...], points: tuple[float, ...]) -> float:
    for edge, p in zip(edges, points, strict=False):
        if x < edge:
            return p
    return points[-1]


def _client_score(h: History, as_of: float) -> float:
    def recent(rows: list[tuple[Any, ...]], days: int) -> list[tuple[Any, ...]]:
        return [r for r in rows if as_of - days * DAY < r[0] <= as_of]

    points: dict[str, float] = {}
    hours = [v for _, v in recent(h["rt"], 30)]
    if len(hours) >= 3:
        p90 = statistics.quantiles(hours, n=10, method="inclusive")[8]
        points["responsiveness"] = float(np.interp(p90, [4, 24, 72], [100, 60, 0]))
    milestones = recent(h["ms"], 90)
    if milestones:
        missed = sum((end if end <= as_of else as_of) > due for due, end in milestones)
        bands = (100.0, 75.0, 40.0, 0.0)
        points["delivery"] = _band(missed / len(milestones), (0.1, 0.25, 0.5), bands)
    else:
        points["delivery"] = 70.0
    surveys = recent(h["sv"], 180)
    if surveys:
        _, answer, scale = max(surveys, key=lambda r: r[0])
        norm = answer / 10 * 100 if scale == "nps" else (answer - 1) / 4 * 100
        points["satisfaction"] = min(100.0, max(0.0, (norm - 40) / 50 * 100))
    severity = sum(SEVERITY_POINTS[s] for _, _, s in recent(h["inc"], 30))
    bands = (100.0, 85.0, 65.0, 40.0, 20.0, 0.0)
    points["stability"] = _band(severity, (1.0, 3.0, 6.0, 10.0, 20.0), bands)
    total = sum(WEIGHTS[k] for k in points)
    score = round(sum(p * WEIGHTS[k] for k, p in points.items()) / total, 9)
    sev1_open = any(
        s == "sev1" and ts <= as_of and (end != end or end > as_of) for ts, end, s in h["inc"]
    )
    return min(score, 40.0) if sev1_open else score


def plain_loop_scores(book: list[History], as_of: float) -> np.ndarray:
    """One score per client, computed client by client in plain Python."""
    return np.array([_client_score(h, as_of) for h in book])
