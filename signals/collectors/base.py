"""The collector plugin contract and its registry.

A collector is a stable ``name``, a pydantic ``Config`` model, the signal ``kinds`` it produces
and a ``fetch`` step: given the cursor it returned last time (None on the first run), it returns
signals plus the next cursor. Collectors never write to the store and never score: the runner
does both, so a collector is testable with nothing but its source (a local HTTP server, a file, a
database).

Everything a collector talks to (an ``httpx.Client``, a clock, the client mapping) is handed in
through ``FetchContext``; tests hand in ones pointed at local servers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from rapport.engine.errors import RapportError
from rapport.signals.model import Client, StoredSignal

JsonValue = Any  # a cursor is any JSON-serialisable value the collector understands


class CollectorError(RapportError):
    """A collector run failed as a whole (source unreachable, auth refused, bad config)."""

    def __init__(self, collector: str, reason: str) -> None:
        self.collector = collector
        self.reason = reason
        super().__init__(f"Collector {collector!r} failed: {reason}")


class DuplicateCollectorError(RapportError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"Collector names registered twice: {', '.join(sorted(names))}")


class UnknownCollectorError(RapportError):
    def __init__(self, name: str, known: list[str]) -> None:
        listing = ", ".join(sorted(known))
        super().__init__(f"No collector type by the name of {name!r} (known: {listing})")


class CollectorConfig(BaseModel):
    """Base of every collector's ``Config``: immutable, unknown keys are errors.

    Secrets are never written in YAML: a config names an environment variable (``token_env``) or a
    file (``token_file``) and the collector reads it through ``FetchContext.secret``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


class ClientMap:
    """Maps a source's identifiers (a Zendesk organization id, a GitHub repo, an email domain…) to
    client ids through one attribute of the clients registry, counting what it cannot map.

    ``Client.attrs[attribute]`` holds the source id (a comma-separated list maps several ids to one
    client); ``overrides`` (from the collector's config) win over the registry.
    """

    def __init__(
        self, clients: list[Client], attribute: str, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.attribute = attribute
        self._map: dict[str, str] = {}
        for client in clients:
            raw = client.attrs.get(attribute)
            if raw is None:
                continue
            for key in str(raw).split(","):
                if key.strip():
                    self._map[_fold(key)] = client.id
        self._map.update({_fold(k): v for k, v in (overrides or {}).items()})
        self.unmapped: Counter[str] = Counter()

    def resolve(self, source_id: object) -> str | None:
        """The client id for ``source_id``, or None (and counted as unmapped)."""
        key = _fold(str(source_id))
        client = self._map.get(key)
        if client is None:
            self.unmapped[key] += 1
        return client


def _fold(key: str) -> str:
    return key.strip().lower()


@dataclass
class FetchContext:
    """What a fetch may use. ``now`` is injected (tests pin it); ``secret(name)`` reads the named
    environment variable or file; ``http`` is the shared HTTP client (timeouts and size limits
    set by the runner); ``log_skip`` records a malformed item that was skipped and why;
    ``sleep`` is how a collector waits between retries (tests inject one that records instead)."""

    now: datetime
    clients: ClientMap
    secret: Callable[[str], str]
    http: Any = None  # httpx.Client; typed loosely so non-HTTP collectors need not import httpx
    skipped: list[str] = field(default_factory=list)
    sleep: Callable[[float], None] = time.sleep

    def log_skip(self, item: str, reason: str) -> None:
        self.skipped.append(f"{item}: {reason}")


@dataclass(frozen=True)
class FetchResult:
    """One fetch: the signals found, the cursor to resume from, and whether more pages remain
    (the runner keeps calling ``fetch`` with ``cursor`` until ``more`` is False)."""

    signals: list[StoredSignal]
    cursor: JsonValue
    more: bool = False


C = TypeVar("C", bound=CollectorConfig)


class Collector(Protocol):
    """A signal source. Implementations are small classes registered with ``@register``.

    Contract: ``fetch`` is idempotent for a given cursor (the same cursor fetched twice yields the
    same event_ids), raises ``CollectorError`` (or lets an ``httpx.HTTPError``/``OSError`` escape)
    when the source as a whole fails, and skips — via ``context.log_skip`` — a malformed item
    while keeping the rest of the page. It never writes to the store.
    """

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    Config: ClassVar[type[CollectorConfig]]
    #: the Client.attrs key that maps this source's ids to clients (None: signals carry client ids)
    client_attribute: ClassVar[str | None]

    def __init__(self, config: Any) -> None: ...

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult: ...


REGISTRY: dict[str, type[Collector]] = {}


def register(cls: type[Any]) -> type[Any]:
    """Class decorator adding a collector to ``REGISTRY``; a second class with the same name fails
    at import time with ``DuplicateCollectorError``."""
    name = cls.name
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise DuplicateCollectorError([name])
    REGISTRY[name] = cls
    return cls


def collector_type(name: str) -> type[Collector]:
    if name not in REGISTRY:
        raise UnknownCollectorError(name, list(REGISTRY))
    return REGISTRY[name]
