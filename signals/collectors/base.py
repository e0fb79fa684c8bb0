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
from typing import Any, ClassVar, Generic, Protocol, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from rapport.engine.errors import RapportError
from rapport.signals.model import Client, Owner, StoredSignal, ZoneLookup, client_zones

JsonValue = Any  # a cursor is any JSON-serialisable value the collector understands


class CollectorError(RapportError):
    """A collector run failed as a whole (source unreachable, auth refused, bad config)."""

    def __init__(self, collector: str, reason: str) -> None:
        self.collector = collector
        self.reason = reason
        super().__init__(f"Collector {collector!r} failed: {reason}")


class BadCursorError(CollectorError):
    """The saved cursor is not one this collector writes (another type's, or hand-edited): the
    run fails rather than guess where to resume."""

    def __init__(self, collector: str, cursor: object) -> None:
        self.cursor = cursor
        super().__init__(collector, f"saved cursor {cursor!r} was not written by this collector")


class DuplicateCollectorError(RapportError):
    """Two classes claim one collector name; raised while the second one's module is imported."""

    def __init__(self, duplicates: Mapping[str, list[type[Any]]]) -> None:
        self.names = sorted(duplicates)
        listing = "; ".join(
            f"{name!r} by {' and '.join(_qualified(cls) for cls in duplicates[name])}"
            for name in self.names
        )
        super().__init__(f"Collector names registered twice: {listing}")


class CollectorDefinitionError(RapportError):
    """A collector class that cannot be registered as written (a programming error, raised at
    import so it never reaches a run)."""

    def __init__(self, cls: type[Any], reason: str) -> None:
        super().__init__(f"Collector class {_qualified(cls)} {reason}")


def _qualified(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


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
    client); ``overrides`` (from the collector's config) win over the registry. ``zones`` are the
    clients' time zones, for the bare dates of their signals (``to_signal``).
    """

    def __init__(
        self,
        clients: list[Client],
        attribute: str,
        overrides: Mapping[str, str] | None = None,
        zones: ZoneLookup | None = None,
    ) -> None:
        self.attribute = attribute
        self.zones: ZoneLookup = zones if zones is not None else client_zones(clients)
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
    ``warn`` records something the run's owner should fix although the run succeeded (a
    configured filter that matches nothing); ``sleep`` is how a collector waits between retries
    (tests inject one that records instead). A first run (no cursor) reads
    ``first_run_seconds(default)`` of history: the configured ``backfill`` when set, else the
    longer of the collector's ``default`` and ``history_needed`` (the longest window the
    scorecard reads for the collector's kinds; see ``backfill.kind_windows``)."""

    now: datetime
    clients: ClientMap
    secret: Callable[[str], str]
    http: Any = None  # httpx.Client; typed loosely so non-HTTP collectors need not import httpx
    skipped: list[str] = field(default_factory=list)
    sleep: Callable[[float], None] = time.sleep
    warnings: list[str] = field(default_factory=list)
    backfill: float | None = None
    history_needed: float | None = None

    def log_skip(self, item: str, reason: str) -> None:
        self.skipped.append(f"{item}: {reason}")

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def first_run_seconds(self, default: float) -> float:
        """Seconds of history a first run reads (see the class docstring)."""
        if self.backfill is not None:
            return self.backfill
        return max(default, self.history_needed or 0.0)


@dataclass(frozen=True)
class ClientFacts:
    """What a source (a CRM) knows of one registered client: attributes to set (``attrs``) or
    remove (``cleared``: the source no longer has a value, e.g. no renewal is open), and an
    ``owner`` for a client the registry gives none. The registry stays the source of truth for
    everything else: ``apply`` never changes a client's name, segment, time zone or an owner it
    already has."""

    client: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    cleared: tuple[str, ...] = ()
    owner: Owner | None = None

    def apply(self, current: Client) -> Client:
        """``current`` with these facts (the registry's own owner wins)."""
        merged = {**current.attrs, **self.attrs}
        attrs = {k: v for k, v in merged.items() if k not in self.cleared}
        owner = current.owner or self.owner
        return current.model_copy(update={"attrs": attrs, "owner": owner})


@dataclass(frozen=True)
class FetchResult:
    """One fetch: the signals found, the cursor to resume from, and whether more pages remain
    (the runner keeps calling ``fetch`` with ``cursor`` until ``more`` is False). ``clients``
    are facts about registered clients the runner applies to the registry with the page."""

    signals: list[StoredSignal]
    cursor: JsonValue
    more: bool = False
    clients: tuple[ClientFacts, ...] = ()


C = TypeVar("C", bound=CollectorConfig)


class Collector(Protocol):
    """A signal source. Implementations subclass ``BaseCollector`` (``HttpCollector`` for an HTTP
    API), which registers them under their ``name``.

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
    """Add a collector class to ``REGISTRY`` under ``cls.name``; a second class with the same name
    fails at import time with ``DuplicateCollectorError`` naming both. ``BaseCollector`` calls
    this for every subclass that declares a ``name``; call it yourself only for a class that
    implements the ``Collector`` Protocol without that base."""
    name = cls.name
    known = REGISTRY.get(name)
    if known is not None and known is not cls:
        raise DuplicateCollectorError({name: [known, cls]})
    REGISTRY[name] = cls
    return cls


class BaseCollector(Generic[C]):
    """What every built-in collector is built on: it declares itself once, in its class line, and
    is registered by it::

        class JiraCollector(HttpCollector[JiraConfig], name="jira", kinds=("milestone",),
                            client_attribute="jira_project"):
            def fetch(self, cursor, context): ...

    ``name`` is the stable type name ``collectors.yaml`` uses; the ``Config`` model is the class's
    type argument (``JiraConfig`` above); ``kinds`` are the signal kinds it produces (empty for
    collectors whose config names the ``kind``); ``client_attribute`` is the ``Client.attrs``
    key its source ids map through (None: its signals carry client ids). A subclass without
    ``name`` is an intermediate base (``HttpCollector``) and is not registered. The instance
    keeps its validated config as ``self.config``; subclasses implement ``fetch``.
    """

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    Config: ClassVar[type[CollectorConfig]]
    client_attribute: ClassVar[str | None]

    def __init_subclass__(
        cls,
        *,
        name: str | None = None,
        kinds: tuple[str, ...] = (),
        client_attribute: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if name is None:
            return
        cls.name = name
        cls.kinds = kinds
        cls.client_attribute = client_attribute
        cls.Config = _config_model(cls)
        register(cls)

    def __init__(self, config: C) -> None:
        self.config = config

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        raise NotImplementedError


def _config_model(cls: type[Any]) -> type[CollectorConfig]:
    """The ``CollectorConfig`` subclass given as the type argument of a ``BaseCollector`` base."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, BaseCollector):
            argument = next(iter(get_args(base)), None)
            if isinstance(argument, type) and issubclass(argument, CollectorConfig):
                return argument
    inherited = getattr(cls, "Config", None)
    if isinstance(inherited, type) and issubclass(inherited, CollectorConfig):
        return inherited
    raise CollectorDefinitionError(
        cls, "does not say its Config: subclass BaseCollector[YourConfig] (or HttpCollector[…])"
    )
