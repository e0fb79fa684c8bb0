"""Two rules bundles replayed over the stored signals, and their difference: the shell around
``engine.replay`` and ``engine.rules_diff`` that ``rapport rules diff`` and
``POST /api/v1/rules/preview`` share.

- the base (and a ref as head) is read by ``api.rules_revision.bundle_at``: the rules directory
  as it was at a git revision, checked by the one rules check; findings name ``rev:path``.
- ``diff_bundles(store, base, head, instants)`` loads the signals once (up to the last instant)
  and replays both bundles over them — scores, grades, coverage and alerts, each step seeing the
  signals as they were known then — and returns the ``RulesDiff``. Nothing is written.

Both bundles score the same clients (the registry, plus those a bundle's ``clients.yaml`` lists,
each with the segment its bundle gives it), so a changed segment in ``clients.yaml`` is part of
the change being reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from rapport.api.alerts import source_ages
from rapport.api.bundle import RulesBundle
from rapport.engine.frame import ClientSet, FloatArray, SignalSet
from rapport.engine.replay import Replay, Side, Sources, SourcesAt, replay, replay_together
from rapport.engine.rules_diff import RulesDiff, diff
from rapport.signals.collectors.runner import covered_kinds, stale_kinds
from rapport.signals.frames import build_stale_masks
from rapport.signals.model import Client
from rapport.signals.store import Store


def clients_of(registry: Sequence[Client], bundle: RulesBundle, ids: Sequence[str]) -> ClientSet:
    """``ids`` with the segment ``bundle``'s ``clients.yaml`` gives them, else the registry's."""
    segments = {c.id: c.segment for c in registry}
    segments.update({c.id: c.segment for c in bundle.clients or ()})
    return ClientSet.of(list(ids), [segments.get(cid) for cid in ids])


def sources_of(
    store: Store, bundle: RulesBundle, registry: Sequence[Client], clients: ClientSet
) -> SourcesAt | None:
    """What ``bundle``'s collectors say of the sources at each instant (None: it has none)."""
    config = bundle.collectors
    if config is None:
        return None
    known = tuple(registry)

    def at(instant: datetime) -> Sources:
        ages = source_ages(store, bundle, known, instant)
        row = {c.id: i for i, c in enumerate(known)}
        order = [row.get(cid) for cid in clients.ids]
        return Sources(
            stale=build_stale_masks(clients, stale_kinds(store, config, instant)),
            covered=build_stale_masks(clients, covered_kinds(store, config, instant)),
            source_age={k: _realign(v, order) for k, v in ages.items()},
        )

    return at


def _realign(values: FloatArray, order: Sequence[int | None]) -> FloatArray:
    """``values`` (registry rows) in the rows ``order`` names (None: not in the registry)."""
    out = np.full(len(order), np.nan)
    pairs = [(i, row) for i, row in enumerate(order) if row is not None]
    if pairs:
        into, source = (list(side) for side in zip(*pairs, strict=True))
        out[into] = values[source]
    return out


def replay_bundle(  # noqa: PLR0917 (the store, the rules, and what to replay them over)
    store: Store,
    bundle: RulesBundle,
    registry: Sequence[Client],
    ids: Sequence[str],
    signals: SignalSet,
    instants: Sequence[datetime],
    *,
    keep: bool = False,
) -> Replay:
    """``bundle`` replayed over ``instants`` for the clients ``ids`` (``signals`` in their rows)."""
    clients = clients_of(registry, bundle, ids)
    return replay(
        bundle.scorecard, clients, signals, instants, bundle.version,
        alerts=bundle.alerts, sources=sources_of(store, bundle, registry, clients), keep=keep,
    )  # fmt: skip


def diff_bundles(
    store: Store, base: RulesBundle, head: RulesBundle, instants: Sequence[datetime]
) -> RulesDiff:
    """What ``head`` changes against ``base`` over ``instants``, from the signals stored now."""
    registry = store.clients()
    listed = [c.id for c in (*(base.clients or ()), *(head.clients or ()))]
    ids = sorted({c.id for c in registry} | set(listed))
    signals = store.signal_set(ClientSet.of(ids), until=instants[-1])
    if base.collectors != head.collectors:  # the sources differ per side: no sharing
        return diff(
            replay_bundle(store, base, registry, ids, signals, instants),
            replay_bundle(store, head, registry, ids, signals, instants),
        )
    sides = [
        Side(b.scorecard, clients_of(registry, b, ids), b.version, b.alerts) for b in (base, head)
    ]
    sources = sources_of(store, base, registry, sides[0].clients)
    return diff(*replay_together(sides, signals, instants, sources=sources))
