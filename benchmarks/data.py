"""Synthetic signals straight into the scorer's arrays: N clients × ~100 events over 180 days.

Per client: 45 response times (email/ticket/chat), 15 milestones (70% on time, 20% late, 10% still
open), 10 survey answers (NPS or CSAT), 30 incidents (sev1..sev4, mostly resolved). Rows are grouped
by client, as the store loads them. Deterministic for a seed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from rapport.engine.frame import Categorical, ClientSet, KindFrame, SignalSet

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
DAY = 86400.0
SPAN_DAYS = 180
PER_CLIENT = {"response_time": 45, "milestone": 15, "survey": 10, "incident": 30}


def _rows(rng: np.random.Generator, clients: int, per_client: int) -> tuple[np.ndarray, np.ndarray]:
    client = np.repeat(np.arange(clients, dtype=np.int32), per_client)
    ts = AS_OF.timestamp() - rng.random(client.size) * SPAN_DAYS * DAY
    return client, ts


def _categorical(
    rng: np.random.Generator, n: int, names: tuple[str, ...], p: list[float]
) -> Categorical:
    return Categorical(rng.choice(len(names), size=n, p=p).astype(np.int32), names)


def synthetic_signals(clients: int, seed: int = 42) -> tuple[ClientSet, SignalSet]:
    """``clients`` clients with 100 events each (4 kinds), ending at ``AS_OF``."""
    rng = np.random.default_rng(seed)
    nan = np.full(0, np.nan)
    frames: dict[str, KindFrame] = {}

    c, ts = _rows(rng, clients, PER_CLIENT["response_time"])
    hours = rng.lognormal(mean=1.5, sigma=1.0, size=c.size)
    channel = _categorical(rng, c.size, ("email", "ticket", "chat"), [0.5, 0.4, 0.1])
    frames["response_time"] = KindFrame(c, ts, np.full(c.size, np.nan), hours, {"channel": channel})

    c, due = _rows(rng, clients, PER_CLIENT["milestone"])
    outcome = rng.random(c.size)
    delay = np.where(outcome < 0.7, -rng.random(c.size) * 3 * DAY, rng.random(c.size) * 20 * DAY)
    delivered = np.where(outcome < 0.9, due + delay, np.nan)
    frames["milestone"] = KindFrame(c, due, delivered, np.full(c.size, np.nan), {})

    c, ts = _rows(rng, clients, PER_CLIENT["survey"])
    scale = _categorical(rng, c.size, ("nps", "csat"), [0.6, 0.4])
    nps_answer = rng.integers(0, 11, size=c.size).astype(np.float64)
    csat_answer = rng.integers(1, 6, size=c.size).astype(np.float64)
    answer = np.where(scale.codes == 0, nps_answer, csat_answer)
    frames["survey"] = KindFrame(c, ts, np.full(c.size, np.nan), answer, {"scale": scale})

    c, opened = _rows(rng, clients, PER_CLIENT["incident"])
    severity = _categorical(rng, c.size, ("sev1", "sev2", "sev3", "sev4"), [0.02, 0.13, 0.35, 0.5])
    duration = rng.exponential(scale=8 * 3600, size=c.size)
    still_open = rng.random(c.size) < 0.03
    resolved = np.where(still_open, np.nan, opened + duration)
    frames["incident"] = KindFrame(
        c, opened, resolved, np.full(c.size, np.nan), {"severity": severity}
    )

    del nan
    ids = tuple(f"client-{i:06d}" for i in range(clients))
    return ClientSet.of(ids), SignalSet(frames)


def event_count(signals: SignalSet) -> int:
    return sum(len(frame) for frame in signals.kinds.values())


def slice_clients(
    clients: ClientSet, signals: SignalSet, count: int
) -> tuple[ClientSet, SignalSet]:
    """The first ``count`` clients and their signals (rows are grouped by client)."""
    kinds = {}
    for kind, frame in signals.kinds.items():
        kinds[kind] = frame.take(np.flatnonzero(frame.client < count))
    return ClientSet(clients.ids[:count], clients.segments[:count]), SignalSet(kinds)
