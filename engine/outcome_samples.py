"""Which scores to compare with which outcomes: the populations ``rapport validate`` measures.

Two shapes of question, both asked at a horizon ``H``:

* a **decision** (``renewed`` or ``churned``): every renewal decision at ``t`` is one case, scored
  as known at ``t - H``; the positive cases churned. "Thirty days before a renewal, did the score
  tell the churners from the renewers?"
* an **event** (``escalated``, or a team's own type): every client on a grid of instants ``s``
  (one every ``step``) is one case, scored at ``s``; the positive cases had such an event in
  ``(s, s + H]``. "Did the score tell, H ahead, who was about to escalate?"

Instants are floored to whole seconds, never later than the exact ``t - H``. Outcome times are
read from ``ts`` (when it happened), whatever their ``recorded_at``: an outcome is the answer the
score is marked against, not something the score could have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rapport.engine.frame import BoolArray, FloatArray, IntArray, KindFrame, SignalSet
from rapport.engine.kinds import OUTCOME_KIND as OUTCOME_KIND  # noqa: PLC0414 - read from here
from rapport.engine.kinds import OUTCOME_TYPES

#: The two outcomes of a renewal decision; any other type is an event.
DECISION_TYPES = OUTCOME_TYPES[:2]


@dataclass(frozen=True)
class Sample:
    """The cases of one question at one horizon: per case a client row, the instant its score
    is read at, and whether the outcome followed (``positive``); ``outcome_at`` is the decision's
    time (decisions) or the grid instant (events), ``known_at`` when the answer was known (the
    decision; the end of the event window)."""

    client: IntArray
    at: FloatArray
    positive: BoolArray
    outcome_at: FloatArray
    known_at: FloatArray

    def __len__(self) -> int:
        return len(self.client)

    def take(self, keep: BoolArray) -> Sample:
        return Sample(
            self.client[keep],
            self.at[keep],
            self.positive[keep],
            self.outcome_at[keep],
            self.known_at[keep],
        )


def is_decision(outcome: str) -> bool:
    """Whether ``outcome`` is answered at renewals (churned vs renewed) rather than over a grid."""
    return outcome in DECISION_TYPES


def outcome_types(signals: SignalSet) -> dict[str, int]:
    """How many outcomes of each type the signals hold."""
    frame = signals.frame(OUTCOME_KIND)
    types = frame.attrs.get("type")
    if types is None:
        return {}
    counts = np.bincount(types.codes[types.codes >= 0], minlength=len(types.categories))
    return {name: int(c) for name, c in zip(types.categories, counts, strict=True) if c}


def _of_types(frame: KindFrame, wanted: tuple[str, ...]) -> BoolArray:
    types = frame.attrs.get("type")
    return np.zeros(len(frame), dtype=np.bool_) if types is None else types.isin(wanted)


def decision_sample(
    signals: SignalSet, horizon: float, since: float, until: float, positive: str = "churned"
) -> Sample:
    """Every ``renewed``/``churned`` outcome with ``since <= ts <= until``, read at ``ts - H``."""
    frame = signals.frame(OUTCOME_KIND)
    keep = _of_types(frame, DECISION_TYPES) & (frame.ts >= since) & (frame.ts <= until)
    chosen = frame.take(keep)
    order = np.lexsort((chosen.client, chosen.ts))
    ts = chosen.ts[order]
    return Sample(
        client=chosen.client[order],
        at=np.floor(ts - horizon),
        positive=_of_types(chosen, (positive,))[order],
        outcome_at=ts,
        known_at=ts,
    )


def event_sample(
    signals: SignalSet,
    outcome: str,
    *,
    horizon: float,
    step: float,
    since: float,
    until: float,
    n_clients: int,
) -> Sample:
    """Each client already in the book (a signal dated at or before ``s``) at each grid instant
    ``s`` from ``since`` while ``s + H <= until``; positive where an ``outcome`` event fell in
    ``(s, s + H]``. Clients that churned before ``s`` are out of the book."""
    grid = np.arange(since, until - horizon + 1.0, step)
    grid = np.floor(grid)
    first = np.full(n_clients, np.inf)
    for kind, frame in signals.kinds.items():
        if kind != OUTCOME_KIND and len(frame):
            np.minimum.at(first, frame.client, frame.ts)
    outcomes = signals.frame(OUTCOME_KIND)
    gone = np.full(n_clients, np.inf)
    churn = _of_types(outcomes, ("churned",))
    np.minimum.at(gone, outcomes.client[churn], outcomes.ts[churn])
    clients = np.tile(np.arange(n_clients, dtype=np.int32), len(grid))
    at = np.repeat(grid, n_clients)
    live = (first[clients] <= at) & (gone[clients] > at)
    clients, at = clients[live], at[live]
    events = _of_types(outcomes, (outcome,))
    positive = _any_within(outcomes.client[events], outcomes.ts[events], clients, at, horizon)
    return Sample(clients, at, positive, outcome_at=at, known_at=at + horizon)


def _any_within(
    event_client: IntArray, event_ts: FloatArray, client: IntArray, at: FloatArray, span: float
) -> BoolArray:
    """Per (client, at), whether the client has an event in ``(at, at + span]``: one sorted
    search per case over the events ordered by (client, ts)."""
    if len(event_ts) == 0 or len(at) == 0:
        return np.zeros(len(at), dtype=np.bool_)
    order = np.lexsort((event_ts, event_client))
    # Encode (client, time) as one sortable number: times relative to the earliest, each client
    # given a stretch wider than every time in play, so one client's keys never reach the next's.
    base = min(float(event_ts.min()), float(at.min()))
    width = max(float(event_ts.max()), float(at.max()) + span) - base + 1.0
    keys = event_client[order] * width + (event_ts[order] - base)
    low = np.searchsorted(keys, client * width + (at - base), side="right")
    high = np.searchsorted(keys, client * width + (at + span - base), side="right")
    return np.asarray(high > low, dtype=np.bool_)
