"""``rapport validate`` on a book of 2,000 clients over two years: ~350k signals, ~3,800 renewal
decisions, 3 horizons (30d, 60d, 90d), the shipped scorecard with its segments. Target: 60 s for
the whole report (replay of every case, statistics, bootstrap intervals, the HTML with its nine
charts), timed once (a run is long enough not to need a median). Loading the store is not
included: it is the store's benchmark. Merged into ``benchmarks/results.json`` under
``validate``; other keys are kept.

Each client has a latent health that sets how slow its replies are, how often milestones slip,
how it answers surveys and how many incidents it has; its annual renewals churn with a
probability falling with health. Times are whole minutes at random, so nearly every case has an
instant of its own: the replay's worst case.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.__main__ import RESULTS
from rapport.api.bundle import load_bundle
from rapport.api.validation.candidates import suggestion
from rapport.api.validation.charts import render_html
from rapport.api.validation.run import Book, validate_book
from rapport.engine.frame import Categorical, ClientSet, KindFrame, SignalSet

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0
CLIENTS = 2000
DAYS = 730
DAY = 86400.0
START = 1.72e9  # mid-2024, a whole minute
PER_CLIENT = {"response_time": 90, "milestone": 20, "survey": 15, "incident": 50}
HORIZONS = [30 * DAY, 60 * DAY, 90 * DAY]


def _times(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    client = np.repeat(np.arange(CLIENTS, dtype=np.int32), count)
    ts = START + np.floor(rng.random(client.size) * DAYS * 1440) * 60
    return client, ts


def _frame(client: np.ndarray, ts: np.ndarray, **columns: Any) -> KindFrame:
    nan = np.full(client.size, np.nan)
    attrs = columns.pop("attrs", {})
    return KindFrame(
        client, ts, columns.get("end", nan), columns.get("value", nan), attrs, ts.copy()
    )


def book(seed: int = 1) -> tuple[ClientSet, SignalSet]:
    rng = np.random.default_rng(seed)
    health = rng.random(CLIENTS)
    frames: dict[str, KindFrame] = {}
    c, ts = _times(rng, PER_CLIENT["response_time"])
    hours = rng.lognormal(np.log(2 + 40 * (1 - health[c]) ** 2), 0.5)
    frames["response_time"] = _frame(c, ts, value=hours)
    c, ts = _times(rng, PER_CLIENT["milestone"])
    late = rng.random(c.size) < 0.05 + 0.5 * (1 - health[c])
    frames["milestone"] = _frame(c, ts, end=ts + np.where(late, 10 * DAY, -DAY))
    c, ts = _times(rng, PER_CLIENT["survey"])
    answer = np.clip(np.round(4 + 6 * health[c] + rng.normal(0, 1.5, c.size)), 0, 10)
    scale = Categorical(np.zeros(c.size, dtype=np.int32), ("nps",))
    frames["survey"] = _frame(c, ts, value=answer, attrs={"scale": scale})
    c, ts = _times(rng, PER_CLIENT["incident"])
    severity = np.where(rng.random(c.size) < 0.1 * (1 - health[c]), 1, 3).astype(np.int32)
    sev = Categorical(severity, ("sev1", "sev2", "sev3", "sev4"))
    frames["incident"] = _frame(c, ts, end=ts + 4 * 3600.0, attrs={"severity": sev})
    frames["outcome"] = _renewals(rng, health)
    segments = rng.choice(["enterprise", "midmarket", "smb"], CLIENTS).tolist()
    return ClientSet.of([f"c{i:05d}" for i in range(CLIENTS)], segments), SignalSet(frames)


def _renewals(rng: np.random.Generator, health: np.ndarray) -> KindFrame:
    phase = np.floor(rng.random(CLIENTS) * 365 * 1440) * 60
    client = np.concatenate([np.arange(CLIENTS), np.arange(CLIENTS)]).astype(np.int32)
    ts = START + np.concatenate([phase, phase + 365 * DAY])
    keep = ts >= START + 30 * DAY
    client, ts = client[keep], ts[keep]
    churned = rng.random(client.size) < 0.35 * (1 - health[client]) ** 2
    types = Categorical(churned.astype(np.int32), ("renewed", "churned"))
    return _frame(client, ts, attrs={"type": types})


def run() -> dict[str, Any]:
    bundle = load_bundle(ROOT / "rules")
    clients, signals = book()
    events = sum(len(f) for f in signals.kinds.values())
    started = time.perf_counter()
    report = validate_book(
        Book(bundle.scorecard, "bench", clients, signals), outcome="churned", horizons=HORIZONS
    )
    html = render_html(report)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    text = (ROOT / "rules" / "scorecard.yaml").read_text(encoding="utf-8")
    proposal = suggestion(
        Book(bundle.scorecard, "bench", clients, signals), text, "churned", HORIZONS[0]
    )
    suggest_s = time.perf_counter() - started
    return {
        "clients": CLIENTS,
        "signals": events,
        "renewals": len(signals.frame("outcome")),
        "horizons": len(HORIZONS),
        "cases": sum(h.cases for h in report.horizons),
        "auc_30d": round(report.horizons[0].auc.value or float("nan"), 3),
        "html_bytes": len(html),
        "seconds": round(seconds, 2),
        "target_s": TARGET_S,
        "within_target": seconds <= TARGET_S,
        # ``--suggest`` on top (30d: the weights fit, then every candidate window and component).
        "suggest_s": round(suggest_s, 2),
        "suggest_kept": _kept(proposal),
    }


def _kept(proposal: str) -> list[str]:
    """The candidates the proposal folded in, as its table lists them."""
    rows = [line.split(" | ") for line in proposal.splitlines() if line.endswith("| yes |")]
    return [row[0].lstrip("| ") for row in rows]


def main() -> None:
    results = run()
    print(
        f"validate: {results['clients']} clients, {results['signals']} signals, "
        f"{results['renewals']} renewals x {results['horizons']} horizons "
        f"({results['cases']} cases) in {results['seconds']:.1f} s (target {TARGET_S:.0f} s); "
        f"AUC at 30d {results['auc_30d']}; --suggest {results['suggest_s']:.1f} s more "
        f"(kept: {', '.join(results['suggest_kept']) or 'none'})"
    )
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["validate"] = results
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
