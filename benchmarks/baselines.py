"""The bench4 scorecard (benchmarks/scorecard.yaml) as a data person would write it: pandas
group-bys, and DuckDB SQL. Both return per-client scores comparable with the engine's."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from benchmarks.data import DAY
from rapport.engine.frame import SignalSet

SEVERITY_POINTS = {"sev1": 10.0, "sev2": 5.0, "sev3": 2.0, "sev4": 1.0}
WEIGHTS = {"responsiveness": 30.0, "delivery": 25.0, "satisfaction": 25.0, "stability": 20.0}
STABILITY_EDGES = np.array([1.0, 3.0, 6.0, 10.0, 20.0])
STABILITY_POINTS = np.array([100.0, 85.0, 65.0, 40.0, 20.0, 0.0])
DELIVERY_EDGES = np.array([0.1, 0.25, 0.5])
DELIVERY_POINTS = np.array([100.0, 75.0, 40.0, 0.0])


def dataframes(signals: SignalSet) -> dict[str, Any]:
    """One pandas DataFrame per kind (built outside the timed part, as a data person has them)."""
    rt, ms, sv, inc = (
        signals.kinds[k] for k in ("response_time", "milestone", "survey", "incident")
    )
    scale = np.asarray(sv.attrs["scale"].categories)[sv.attrs["scale"].codes]
    severity = np.asarray(inc.attrs["severity"].categories)[inc.attrs["severity"].codes]
    return {
        "rt": pd.DataFrame({"c": rt.client, "ts": rt.ts, "v": rt.value}),
        "ms": pd.DataFrame({"c": ms.client, "ts": ms.ts, "end": ms.end}),
        "sv": pd.DataFrame({"c": sv.client, "ts": sv.ts, "v": sv.value, "scale": scale}),
        "inc": pd.DataFrame({"c": inc.client, "ts": inc.ts, "end": inc.end, "severity": severity}),
    }


def combine(n: int, raw: dict[str, np.ndarray], open_sev1: np.ndarray) -> np.ndarray:
    """Curves, weights (skip-and-renormalise, delivery neutral 70) and the sev1 cap, in numpy."""
    points = {
        "responsiveness": np.interp(raw["responsiveness"], [4, 24, 72], [100, 60, 0]),
        "delivery": np.where(
            np.isnan(raw["delivery"]),
            70.0,
            DELIVERY_POINTS[
                np.searchsorted(DELIVERY_EDGES, np.nan_to_num(raw["delivery"]), side="right")
            ],
        ),
        "satisfaction": np.clip((raw["satisfaction"] - 40.0) / 50.0 * 100.0, 0, 100),
        "stability": STABILITY_POINTS[
            np.searchsorted(STABILITY_EDGES, raw["stability"], side="right")
        ],
    }
    total = np.zeros(n)
    weight = np.zeros(n)
    for cid, p in points.items():
        have = ~np.isnan(p)
        total += np.where(have, p, 0.0) * WEIGHTS[cid]
        weight += have * WEIGHTS[cid]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = total / weight
    return np.where(open_sev1, np.minimum(score, 40.0), score)


def _dense(n: int, series: Any, default: float = np.nan) -> np.ndarray:
    out = np.full(n, default)
    out[series.index.to_numpy()] = series.to_numpy()
    return out


def pandas_scores(n: int, df: dict[str, Any], as_of: float) -> np.ndarray:
    rt = df["rt"]
    rt = rt[(rt.ts > as_of - 30 * DAY) & (rt.ts <= as_of)]
    grouped = rt.groupby("c").v
    p90 = grouped.quantile(0.9)
    p90 = p90[grouped.size() >= 3]

    ms = df["ms"]
    ms = ms[(ms.ts > as_of - 90 * DAY) & (ms.ts <= as_of)]
    delivered_by = ms.end.where(ms.end <= as_of, as_of)
    missed = (delivered_by - ms.ts) > 0
    ratio = missed.groupby(ms.c).mean()

    sv = df["sv"]
    sv = sv[(sv.ts > as_of - 180 * DAY) & (sv.ts <= as_of)]
    latest = sv.loc[sv.groupby("c").ts.idxmax()]
    lo = np.where(latest.scale == "nps", 0.0, 1.0)
    hi = np.where(latest.scale == "nps", 10.0, 5.0)
    latest_norm = (latest.v - lo) / (hi - lo) * 100
    latest_norm.index = latest.c.to_numpy()

    inc = df["inc"]
    visible = inc[inc.ts <= as_of]
    recent = visible[visible.ts > as_of - 30 * DAY]
    severity_sum = recent.severity.map(SEVERITY_POINTS).groupby(recent.c).sum()
    is_open = visible.end.isna() | (visible.end > as_of)
    sev1_open = visible[(visible.severity == "sev1") & is_open].c.unique()

    raw = {
        "responsiveness": _dense(n, p90),
        "delivery": _dense(n, ratio),
        "satisfaction": _dense(n, latest_norm),
        "stability": _dense(n, severity_sum, 0.0),
    }
    open_sev1 = np.zeros(n, dtype=bool)
    open_sev1[sev1_open] = True
    return combine(n, raw, open_sev1)


DUCKDB_QUERIES = {
    "responsiveness": """
        SELECT c, quantile_cont(v, 0.9) AS x FROM rt
        WHERE ts > $as_of - 30 * 86400 AND ts <= $as_of GROUP BY c HAVING count(*) >= 3""",
    "delivery": """
        SELECT c, avg(CASE WHEN coalesce(CASE WHEN "end" <= $as_of THEN "end" END, $as_of) > ts
                      THEN 1.0 ELSE 0.0 END) AS x
        FROM ms WHERE ts > $as_of - 90 * 86400 AND ts <= $as_of GROUP BY c""",
    "satisfaction": """
        SELECT c, arg_max((v - CASE WHEN scale = 'nps' THEN 0 ELSE 1 END)
                          / CASE WHEN scale = 'nps' THEN 10 ELSE 4 END * 100, ts) AS x
        FROM sv WHERE ts > $as_of - 180 * 86400 AND ts <= $as_of GROUP BY c""",
    "stability": """
        SELECT c, sum(CASE severity WHEN 'sev1' THEN 10 WHEN 'sev2' THEN 5 WHEN 'sev3' THEN 2
                      ELSE 1 END) AS x
        FROM inc WHERE ts > $as_of - 30 * 86400 AND ts <= $as_of GROUP BY c""",
    "open_sev1": """
        SELECT DISTINCT c, 1.0 AS x FROM inc
        WHERE ts <= $as_of AND severity = 'sev1'
          AND ("end" IS NULL OR isnan("end") OR "end" > $as_of)""",
}


def duckdb_scores(n: int, connection: Any, as_of: float) -> np.ndarray:
    raw: dict[str, np.ndarray] = {}
    for name, sql in DUCKDB_QUERIES.items():
        c, x = connection.execute(sql, {"as_of": as_of}).fetchnumpy().values()
        out = np.full(n, 0.0 if name in ("stability", "open_sev1") else np.nan)
        out[np.asarray(c, dtype=np.int64)] = np.asarray(x, dtype=np.float64)
        raw[name] = out
    return combine(n, raw, raw.pop("open_sev1") > 0)


def duckdb_connection(df: dict[str, Any]) -> Any:
    connection = duckdb.connect()
    connection.execute("SET threads TO 2")
    for name, frame in df.items():
        connection.register(name, frame)
    return connection
