"""The scoring pipeline shared by the CLI and the service: registry → signals → engine → history.

Everything here receives what it needs (a store, a ruleset, an instant); nothing reads settings or
the clock itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapport.engine.evidence import ClientEvidence, evidence_of
from rapport.engine.explain import COMPARE_SPANS, compare_cutoff
from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.kinds import known_kinds
from rapport.engine.loader import Ruleset
from rapport.engine.lookback import reach_of
from rapport.engine.model import Scorecard
from rapport.engine.result import ClientScore, Evaluation
from rapport.engine.scoring import evaluate
from rapport.signals.frames import build_signal_set
from rapport.signals.memory import SignalMemory
from rapport.signals.model import Client
from rapport.signals.store import Store


def sync_registry(store: Store, clients: Iterable[Client] | None) -> int:
    """Upsert the clients a rules bundle lists (its ``clients.yaml``; None: no such file).

    The file is the source of truth for the clients it lists; clients added through the API or
    collectors are left alone. Returns how many clients the file lists.
    """
    if clients is None:
        return 0
    listed = list(clients)
    store.upsert_clients(listed)
    return len(listed)


def evaluate_store(
    store: Store,
    ruleset: Ruleset,
    as_of: datetime,
    *,
    stale: Mapping[str, Iterable[str]] | None = None,
    covered: Mapping[str, Iterable[str]] | None = None,
    clients: ClientSet | None = None,
    persist: bool = True,
    memory: SignalMemory | None = None,
) -> Evaluation:
    """Score every registered client (or ``clients``) as of ``as_of`` and, by default, store it.

    Signals dated after ``as_of`` are not read, so a past ``as_of`` replays the score as it was.
    ``stale`` and ``covered`` map a kind to the client ids whose collector is stale, or fresh and
    mapping them (``signals.collectors.runner``); without ``covered`` only a client's own earlier
    signals make no events of a kind a measured zero. ``memory`` (the service's) answers the
    signals instead of the store, with the same scores.
    """
    scored = clients if clients is not None else store.client_set()
    # Only what the scorecard can read as of as_of: the same scores as loading everything.
    reach = reach_of(ruleset.scorecard)
    if memory is not None:
        signals = memory.signal_set(scored, reach, as_of, stale=stale, covered=covered)
    else:
        signals = store.signal_set(scored, until=as_of, stale=stale, covered=covered, reach=reach)
    evaluation = evaluate(ruleset.scorecard, scored, signals, as_of, ruleset.version)
    if persist:
        store.save_evaluation(evaluation)
    return evaluation


@dataclass(frozen=True)
class ClientEvaluation:
    """One client scored on its own, with the arrays the score came from: ``evaluation`` has the
    client as its only row, ``signals`` are its signals as the scorer read them and
    ``event_ids`` name each row of ``signals.frame(kind)`` (in frame order)."""

    scorecard: Scorecard
    evaluation: Evaluation
    signals: SignalSet
    event_ids: Mapping[str, Sequence[str]]

    def record(self) -> ClientScore:
        return self.evaluation.record(0)

    def evidence(self) -> ClientEvidence:
        """The events behind the score, read from the same arrays (``engine.evidence``)."""
        return evidence_of(
            self.scorecard, self.evaluation, self.signals, 0, event_ids=self.event_ids
        )


def evaluate_client(
    store: Store,
    ruleset: Ruleset,
    client: Client,
    as_of: datetime,
    *,
    stale: Mapping[str, Iterable[str]] | None = None,
    covered: Mapping[str, Iterable[str]] | None = None,
) -> ClientEvaluation:
    """``client`` scored as of ``as_of`` like ``evaluate_store`` scores every client, reading
    only its signals (by the store's client index); nothing is stored. For explain: one client,
    never the whole registry."""
    clients = ClientSet.of([client.id], [client.segment])
    rows = store.client_signals(client.id, known_kinds(ruleset.scorecard.signals), as_of)
    signals = build_signal_set(clients, rows, stale, covered)
    # build_signal_set keeps each kind's rows in the order given, so the ids line up with them.
    event_ids: dict[str, list[str]] = {}
    for row in rows:
        event_ids.setdefault(row.kind, []).append(row.event_id)
    evaluation = evaluate(ruleset.scorecard, clients, signals, as_of, ruleset.version)
    return ClientEvaluation(ruleset.scorecard, evaluation, signals, event_ids)


def earlier_scores(
    store: Store, client_id: str, as_of: datetime, spans: Sequence[str] = COMPARE_SPANS
) -> dict[str, ClientScore | None]:
    """Per span (``"7d"``), ``client_id``'s newest stored score at least that long before
    ``as_of`` (None: the history does not reach back that far); ``explain``'s ``earlier``."""
    found: dict[str, ClientScore | None] = {}
    for span in spans:
        # "at least `span` earlier": the store's `before` is exclusive, hence the microsecond.
        cutoff = compare_cutoff(as_of, span) + timedelta(microseconds=1)
        found[span] = store.latest_score(client_id, before=cutoff)
    return found
