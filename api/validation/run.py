"""One validation run over a book held in memory: cases per horizon, their scores as known then,
the findings and the verdict.

Everything arrives as arguments (scorecard, clients, signals, a period), so the CLI, the
benchmark and the tests run the same code; loading the store and the rules is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from rapport.api.validation.report import ValidationReport, measure_horizon, verdict
from rapport.engine.backtest import Replayed, score_queries
from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.model import Scorecard, format_duration
from rapport.engine.outcome_samples import (
    OUTCOME_KIND,
    Sample,
    decision_sample,
    event_sample,
    is_decision,
)

#: The grid of an event question: one case per client per week.
EVENT_STEP_SECONDS = 7 * 86400.0


@dataclass(frozen=True)
class Book:
    """What a validation reads: the scorecard and its version, the clients and all their
    signals (outcomes included), unfiltered by time: the replay applies visibility itself."""

    scorecard: Scorecard
    rules_version: str
    clients: ClientSet
    signals: SignalSet


def period_of(signals: SignalSet) -> tuple[float, float]:
    """The first and last ``ts`` of any signal (NaN, NaN when there are none)."""
    firsts = [float(np.nanmin(f.ts)) for f in signals.kinds.values() if len(f)]
    lasts = [float(np.nanmax(f.ts)) for f in signals.kinds.values() if len(f)]
    return (min(firsts), max(lasts)) if firsts else (float("nan"), float("nan"))


def sample_of(book: Book, outcome: str, horizon: float, since: float, until: float) -> Sample:
    """The cases of ``outcome`` at ``horizon`` over ``[since, until]``, less those whose instant
    comes before the book's first signal (outcomes aside): nothing could have been known then."""
    if is_decision(outcome):
        sample = decision_sample(book.signals, horizon, since, until)
    else:
        sample = event_sample(
            book.signals,
            outcome,
            horizon=horizon,
            step=EVENT_STEP_SECONDS,
            since=since,
            until=until,
            n_clients=len(book.clients),
        )
    scored = [f for kind, f in book.signals.kinds.items() if kind != OUTCOME_KIND and len(f)]
    if not scored:  # nothing to score at all: every case stays, as "no score"
        return sample
    first = min(float(np.nanmin(f.ts)) for f in scored)
    return sample.take(sample.at >= first)


def replay_sample(book: Book, sample: Sample) -> Replayed:
    """The scores of ``sample``'s cases as known at their instants."""
    return score_queries(
        book.scorecard,
        book.clients,
        book.signals,
        sample.client,
        sample.at,
        rules_version=book.rules_version,
    )


def validate_book(
    book: Book,
    *,
    outcome: str,
    horizons: list[float],
    since: datetime | None = None,
    until: datetime | None = None,
) -> ValidationReport:
    """Every horizon's findings for ``outcome`` over ``[since, until]`` (default: all the
    signals' span), with the verdict first."""
    first, last = period_of(book.signals)
    start = first if since is None else since.timestamp()
    end = last if until is None else until.timestamp()
    question = "decision" if is_decision(outcome) else "event"
    found = []
    for horizon in horizons:
        sample = sample_of(book, outcome, horizon, start, end)
        replayed = replay_sample(book, sample)
        label = format_duration(horizon)
        found.append(
            measure_horizon(label, sample, replayed, book.scorecard, book.clients.segments)
        )
    notes = _notes(book, outcome, question)
    return ValidationReport(
        outcome=outcome,
        question=question,
        rules_version=book.rules_version,
        since=_iso(start),
        until=_iso(end),
        horizons=found,
        verdict=verdict(found, outcome, question),
        notes=notes,
    )


def _iso(epoch: float) -> str:
    if np.isnan(epoch):
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _notes(book: Book, outcome: str, question: str) -> list[str]:
    notes = [
        "Scores are replayed as known at each instant (signals recorded later are not seen); "
        "collectors' past staleness is not recorded, so no source is treated as stale.",
        "AUC intervals are a bootstrap over cases; a client counted at several instants makes "
        "them somewhat narrower than the truth.",
    ]
    if question == "event":
        notes.append(
            f"Cases: every client in the book once a week, positive when a {outcome!r} outcome "
            "followed within the horizon."
        )
    if not len(book.signals.frame(OUTCOME_KIND)):
        notes.append("No outcome signals: import them (see README, Validating the score).")
    return notes
