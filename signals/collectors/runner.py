"""Run collectors: fetch page by page, map clients, store signals, save cursors, record the run.

Per collector and run: load its cursor, call ``fetch`` while it says ``more`` (at most
``max_pages`` pages), store each page's signals and only then save the page's cursor — a crash
between the two re-fetches that page next time, which is harmless because event ids are
idempotent. Every run is recorded (success or failure, counts, error). A collector that fails is
recorded and the others still run. A first run reads at least the history the scorecard reads
for the collector's kinds (``spec.history_needed``, set when the rules bundle is loaded), or the
collector's own ``backfill:``: both reach the collector through ``FetchContext``.
Afterwards the clients whose signals changed — or whose
staleness changed — are handed to ``rescore`` (the caller decides how to score and store). Every
stored signal's ``source`` is the id of the collector that delivered it.

Staleness: a collector whose last success is older than its ``max_staleness`` (or that has failed
and never succeeded) makes its kinds stale for the clients it maps; the scorer then applies the
missing-data policy instead of scoring old or absent data as zero.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from rapport.engine.errors import RapportError
from rapport.signals.collector_state import (
    RunRecord,
    load_cursor,
    prune_runs,
    record_run,
    run_summaries,
    save_cursor,
)
from rapport.signals.collectors.base import ClientFacts, ClientMap, CollectorError, FetchContext
from rapport.signals.collectors.config import CollectorsConfig, CollectorSpec
from rapport.signals.collectors.http import make_http_client
from rapport.signals.model import Client, client_zones
from rapport.signals.store import Store

log = logging.getLogger(__name__)

HttpFactory = Callable[[CollectorSpec], Any]
Rescore = Callable[[set[str]], None]
Clock = Callable[[], datetime]
#: Runs kept per collector in the run log (older ones are pruned after each run).
RUNS_KEPT = 2000
#: Upsert statuses that wrote a row.
_WRITTEN = ("inserted", "updated")


def utc_now() -> datetime:
    return datetime.now(UTC)


class SecretNotFoundError(RapportError, KeyError):
    """A ``token_env``/``token_file`` names neither a set environment variable nor a file."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"the secret {name!r} is neither a set environment variable nor a readable file"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def read_secret(name: str) -> str:
    """``name`` as an environment variable, else as a file path (its text, trailing newline
    removed). Raises ``SecretNotFoundError`` (a ``KeyError``) when it is neither."""
    value = os.environ.get(name)
    if value is not None:
        return value
    path = Path(name)
    if path.is_file():
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    raise SecretNotFoundError(name)


def default_http_factory(spec: CollectorSpec) -> httpx.Client:
    """The shared bounded HTTP client (timeouts, size limit, no redirects) for one run."""
    return make_http_client()


class RunObserver:
    """Hooks for progress displays; every method is a no-op here."""

    def started(self, spec: CollectorSpec) -> None:
        """``spec`` is about to fetch its first page."""

    def page(self, spec: CollectorSpec, pages: int, items: int) -> None:
        """``spec`` stored another page; ``pages``/``items`` so far in this run."""

    def finished(self, record: RunRecord) -> None:
        """``record`` was written to the run log."""


@dataclass(frozen=True)
class _Round:
    """What every collector of one ``run_collectors`` call shares."""

    store: Store
    now: Clock
    http_factory: HttpFactory
    secret: Callable[[str], str]
    sleep: Callable[[float], None]
    watcher: RunObserver


@dataclass
class _Tally:
    pages: int = 0
    items: int = 0
    stored: int = 0
    affected: set[str] = field(default_factory=set)
    note: str | None = None


def run_collectors(
    store: Store,
    config: CollectorsConfig,
    names: Sequence[str] | None = None,
    *,
    now: Clock = utc_now,
    http_factory: HttpFactory = default_http_factory,
    rescore: Rescore | None = None,
    secret: Callable[[str], str] = read_secret,
    sleep: Callable[[float], None] = time.sleep,
    observer: RunObserver | None = None,
) -> list[RunRecord]:
    """Run the named collectors (all enabled ones by default) once, one after the other.

    Returns one ``RunRecord`` per collector, in order. Never raises for a collector's failure
    (it is in its record); raises ``UnknownCollectorNameError`` for an unknown name and
    ``StoreError`` when the store itself fails. ``rescore`` receives the affected client ids
    once, after all collectors ran, and only when there are any.
    """
    specs = config.select(names)
    env = _Round(store, now, http_factory, secret, sleep, observer or RunObserver())
    stale_before = stale_kinds(store, config, now())
    clients = store.clients()
    records: list[RunRecord] = []
    affected: set[str] = set()
    for spec in specs:
        record, changed = _run_one(env, spec, clients)
        records.append(record)
        affected |= changed
    affected |= _stale_changes(stale_before, stale_kinds(store, config, now()))
    if rescore is not None and affected:
        rescore(affected)
    return records


def _run_one(env: _Round, spec: CollectorSpec, clients: list[Client]) -> tuple[RunRecord, set[str]]:
    started = env.now()
    mapping = client_map_for(spec, clients)
    context = FetchContext(
        now=started,
        clients=mapping,
        secret=env.secret,
        sleep=env.sleep,
        backfill=spec.backfill,
        history_needed=spec.history_needed,
    )
    tally = _Tally()
    error: str | None = None
    env.watcher.started(spec)
    try:
        context.http = env.http_factory(spec)
        _fetch_pages(env, spec, context, tally)
    except Exception as failure:  # one collector's failure, whatever it is, must not stop the rest
        error = describe_failure(spec, failure)
    finally:
        close = getattr(context.http, "close", None)
        if callable(close):
            close()
    record = RunRecord(
        collector=spec.id,
        started_at=started,
        finished_at=env.now(),
        ok=error is None,
        items=tally.items,
        stored=tally.stored,
        unmapped=sum(mapping.unmapped.values()),
        skipped=len(context.skipped),
        error=error,
        unmapped_ids=dict(mapping.unmapped.most_common(20)),
        skip_reasons=tuple(context.skipped[:20]),
        pages=tally.pages,
        note=tally.note,
        warnings=tuple(context.warnings),
    )
    record_run(env.store, record)
    prune_runs(env.store, RUNS_KEPT, [spec.id])
    env.watcher.finished(record)
    return record, tally.affected


def _fetch_pages(env: _Round, spec: CollectorSpec, context: FetchContext, tally: _Tally) -> None:
    store = env.store
    collector = spec.build()
    cursor = load_cursor(store, spec.id)
    while tally.pages < spec.max_pages:
        result = collector.fetch(cursor, context)
        signals = [replace(s, source=spec.id) for s in result.signals]
        if signals:
            upserted = store.upsert_signals(signals)
            changed = [
                s for s, st in zip(signals, upserted.statuses, strict=True) if st in _WRITTEN
            ]
            tally.stored += len(changed)
            tally.affected |= {s.client for s in changed}
        if result.clients:
            tally.affected |= apply_client_facts(store, result.clients)
        # only now, after the page's signals are stored: a crash before this re-fetches the page
        save_cursor(store, spec.id, result.cursor, env.now())
        cursor = result.cursor
        tally.pages += 1
        tally.items += len(signals)
        env.watcher.page(spec, tally.pages, tally.items)
        if not result.more:
            return
    tally.note = f"stopped after max_pages ({spec.max_pages}); the next run continues"


def apply_client_facts(store: Store, facts: Iterable[ClientFacts]) -> set[str]:
    """Apply a page's ``ClientFacts`` onto the registry's current records (facts about a client
    the registry does not have are dropped) and return the ids whose record changed."""
    current = {c.id: c for c in store.clients()}
    merged: dict[str, Client] = {}
    for fact in facts:  # several facts about one client apply in order
        base = merged.get(fact.client) or current.get(fact.client)
        if base is not None:
            merged[fact.client] = fact.apply(base)
    updated = list(merged.values())
    if not updated:
        return set()
    upserted = store.upsert_clients(updated)
    return {c.id for c, st in zip(updated, upserted.statuses, strict=True) if st in _WRITTEN}


def describe_failure(spec: CollectorSpec, failure: Exception) -> str:
    """A one-line reason for the run log; unexpected errors are also logged with their traceback."""
    if isinstance(failure, CollectorError):
        return failure.reason
    if isinstance(failure, RapportError | httpx.HTTPError | OSError):
        return f"{type(failure).__name__}: {failure}"
    log.exception("collector %s failed unexpectedly", spec.id)
    return f"unexpected {type(failure).__name__}: {failure}"


def client_map_for(spec: CollectorSpec, clients: list[Client]) -> ClientMap:
    """The id mapping a run uses: through ``spec.client_attribute``, or — for collectors whose
    items carry client ids — the registry's ids themselves; ``spec.overrides`` win either way.

    With no attribute, an id the registry does not know is unmapped (counted, not stored), the
    same as an unknown source id: a typo in an export should show up, not score a ghost client.
    """
    if spec.client_attribute is not None:
        return ClientMap(clients, spec.client_attribute, spec.overrides)
    identity = {c.id: c.id for c in clients}
    return ClientMap([], "id", {**identity, **spec.overrides}, zones=client_zones(clients))


# --- staleness ------------------------------------------------------------------------------------


def stale_kinds(store: Store, config: CollectorsConfig, now: datetime) -> dict[str, set[str]]:
    """Which clients' signals of which kind come from a stale collector as of ``now``.

    A collector is stale when its last success (among runs finished by ``now``) is older than its
    ``max_staleness``, or when it has failed and never succeeded; a collector that never ran is
    not (yet) judged, nor is a disabled one. Its kinds are then stale for the clients it maps:
    every client with its client attribute (plus its overrides' targets), or every client when
    its items carry client ids.
    """
    return _source_kinds(store, config, now, stale=True)


def covered_kinds(store: Store, config: CollectorsConfig, now: datetime) -> dict[str, set[str]]:
    """Which clients a fresh collector of which kind covers as of ``now``: its last success
    (among runs finished by ``now``) is within its ``max_staleness``, and it maps the client (as
    in ``stale_kinds``). For those, no signal of the kind is a measured zero, not missing data.

    The mapping is read from the collector's configuration and the registry, as staleness is,
    rather than recorded per run: the same clients a stale collector makes stale are the ones a
    fresh one covers, and no new table is needed. (A replay as of a past instant therefore uses
    today's mapping, as staleness does.)
    """
    return _source_kinds(store, config, now, stale=False)


def _source_kinds(
    store: Store, config: CollectorsConfig, now: datetime, *, stale: bool
) -> dict[str, set[str]]:
    """Per kind, the clients of the collectors that are stale (``stale``) or fresh (not)."""
    summaries = run_summaries(store, until=now)
    clients: list[Client] | None = None
    found: dict[str, set[str]] = defaultdict(set)
    for spec in config.collectors.values():
        summary = summaries.get(spec.id)
        if not spec.enabled or summary is None:
            continue
        if summary.last_success is None:
            is_stale = summary.last_failure is not None
            is_fresh = False
        else:
            is_stale = (now - summary.last_success).total_seconds() > spec.max_staleness
            is_fresh = not is_stale
        if not (is_stale if stale else is_fresh):
            continue
        clients = clients if clients is not None else store.clients()
        for kind in spec.kinds:
            found[kind] |= clients_served(spec, clients)
    return dict(found)


def clients_served(spec: CollectorSpec, clients: Iterable[Client]) -> set[str]:
    """The client ids a collector delivers signals for."""
    if spec.client_attribute is None:
        return {c.id for c in clients}
    served = {c.id for c in clients if c.attrs.get(spec.client_attribute) not in (None, "")}
    return served | set(spec.overrides.values())


def _stale_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> set[str]:
    changed: set[str] = set()
    for kind in before.keys() | after.keys():
        changed |= before.get(kind, set()) ^ after.get(kind, set())
    return changed
