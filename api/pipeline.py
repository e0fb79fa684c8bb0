"""The scoring pipeline shared by the CLI and the service: registry → signals → engine → history.

Everything here receives what it needs (a store, a ruleset, an instant); nothing reads settings or
the clock itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from rapport.engine.frame import ClientSet
from rapport.engine.loader import Ruleset
from rapport.engine.result import Evaluation
from rapport.engine.scoring import evaluate
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
) -> Evaluation:
    """Score every registered client (or ``clients``) as of ``as_of`` and, by default, store it.

    Signals dated after ``as_of`` are not read, so a past ``as_of`` replays the score as it was.
    ``stale`` and ``covered`` map a kind to the client ids whose collector is stale, or fresh and
    mapping them (``signals.collectors.runner``); without ``covered`` only a client's own earlier
    signals make no events of a kind a measured zero.
    """
    scored = clients if clients is not None else store.client_set()
    signals = store.signal_set(scored, until=as_of, stale=stale, covered=covered)
    evaluation = evaluate(ruleset.scorecard, scored, signals, as_of, ruleset.version)
    if persist:
        store.save_evaluation(evaluation)
    return evaluation
