"""Signals and clients as they cross Rapport's boundary (imports, collectors, the push API).

Each built-in kind has its own typed model; ``parse_signal`` picks the model by ``kind``. Every
model flattens to a ``StoredSignal``, the one row shape the store and the scorer's arrays share.
Naive timestamps are read as UTC. A bare date (``due: 2026-06-30``) is kept as a ``date`` by the
model and resolved once, in ``to_stored(zones)``, to the end of that day in the client's time zone
(``Client.timezone``, UTC when the client is unknown): the next midnight there, so a milestone due
2026-06-30 for a client in Asia/Shanghai is due at 2026-06-30T16:00:00Z.

Every kind has an optional ``recorded_at``: when the event first became known (a ticket's or work
item's creation time). Left out, the store fills in when it first received the ``event_id``; a
later revision of the same ``event_id`` never moves it (``signals.writer``).

``natural_signal`` turns the shapes exports naturally have (nested ``attrs`` on a built-in kind,
``null`` for absent, extra attributes at the top level) into the models' shape before validation.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    model_validator,
)

from rapport.engine.errors import RapportError
from rapport.engine.kinds import BUILTIN_KINDS, scale_bounds

#: The longest client id, in characters (code points).
CLIENT_ID_LENGTH = 64
CLIENT_ID_RULE = (
    f"up to {CLIENT_ID_LENGTH} letters or digits of any script (上海云帆, müller-gmbh), '.', '_' "
    "or '-', starting with a letter or digit, in Unicode NFC form"
)


def _client_id(value: str) -> str:
    """A client id by ``CLIENT_ID_RULE``. Python's ``re`` has no ``\\p{L}``, and JSON Schema's
    regex dialect cannot say it portably, hence a validator: letters and digits are what
    ``str.isalnum`` says (categories L* and N*); combining marks (M*) may follow one, as in
    Devanagari or Thai words; spaces, controls, symbols and other punctuation are refused. NFC
    only, so that one name has one id whichever keyboard typed it."""
    if not value[:1].isalnum():
        raise ValueError(f"a client id starts with a letter or digit ({CLIENT_ID_RULE})")
    for char in value:
        if not (char.isalnum() or char in "._-" or unicodedata.category(char).startswith("M")):
            raise ValueError(f"{char!r} may not be in a client id ({CLIENT_ID_RULE})")
    if unicodedata.normalize("NFC", value) != value:
        raise ValueError(f"a client id is written in Unicode NFC form ({CLIENT_ID_RULE})")
    return value


ClientId = Annotated[
    str,
    Field(min_length=1, max_length=CLIENT_ID_LENGTH, description=f"client id: {CLIENT_ID_RULE}"),
    AfterValidator(_client_id),
]
EventId = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(min_length=1, max_length=200)]
AttrValue = Annotated[str, Field(max_length=200)]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


def _as_utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 has no UTC instant
        raise ValueError("date-time is out of range") from None


_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bare_date(value: Any) -> Any:
    """A date without a time stays a ``date``: which instant ends that day depends on the client's
    time zone, known only to ``to_stored``."""
    if isinstance(value, str) and _BARE_DATE.match(value.strip()):
        value = date.fromisoformat(value.strip())
    if type(value) is date and value == date.max:
        raise ValueError("date is out of range")
    return value


def _as_utc_unless_day(value: datetime | date) -> datetime | date:
    return _as_utc(value) if isinstance(value, datetime) else value


#: Client id → its time zone, for resolving bare dates (a client not in it is in UTC).
ZoneLookup = Mapping[str, tzinfo]


def end_of_day(day: date, zone: tzinfo = UTC) -> datetime:
    """The instant a bare date ``day`` ends in ``zone``: the next midnight there, in UTC.

    "Due 2026-06-30" is kept by any delivery up to and including this instant and missed after it.
    """
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


Instant = Annotated[datetime, AfterValidator(_as_utc)]
DayOrInstant = Annotated[
    datetime | date, BeforeValidator(_bare_date), AfterValidator(_as_utc_unless_day)
]


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """The one row shape of every signal: what the store keeps and the scorer's arrays are built of.

    ``ts`` is the time windows are measured on; ``end`` the delivery/resolution time (None while
    open); ``value`` is None for kinds that have none; ``recorded_at`` when the event first became
    known (None: the store stamps its first receipt). Times are timezone-aware UTC.

    A plain dataclass, not a pydantic model: it is only ever built from signals validated at the
    boundary (``parse_signal``) or by Rapport's own code, and ingest builds a thousand per request.
    """

    event_id: str
    client: str
    kind: str
    ts: datetime
    end: datetime | None = None
    value: float | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    source: str = "manual"
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredAs:
    """Which payload fields of a kind become the stored row's ``ts``, ``end`` and ``value``.

    Every other field of the kind's model (but the common ``event_id``, ``client``, ``source``,
    ``recorded_at`` and ``kind``) is an attribute, kept when not None; ``attrs`` instead names one
    field that already is the attribute mapping (custom kinds).
    """

    ts: str = "ts"
    end: str | None = None
    value: str | None = None
    attrs: str | None = None


#: Fields every signal has; they are not a kind's payload.
COMMON_FIELDS = ("event_id", "client", "source", "recorded_at", "kind")
#: The field holding a signal's free-form attributes: a custom kind's, or a built-in kind's
#: attributes beyond its own (``rev``), kept and stored with them.
EXTRA_ATTRS = "attrs"

AttrName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class SignalModel(BaseModel):
    """Base of every kind's model; a kind declares ``stored_as`` and its fields, nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    stored_as: ClassVar[StoredAs]
    #: the fields stored as attributes, read off the model when the class is built
    attr_fields: ClassVar[tuple[str, ...]] = ()

    event_id: EventId
    client: ClientId
    source: Label = "manual"
    recorded_at: Instant | None = Field(
        default=None,
        description="when the event first became known (default: when Rapport first stored it)",
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        layout: StoredAs | None = getattr(cls, "stored_as", None)
        if layout is None:  # an abstract base of kinds (BuiltinSignal)
            return
        columns = {layout.ts, layout.end, layout.value, layout.attrs} - {None}
        unknown = sorted(str(name) for name in columns if name not in cls.model_fields)
        if unknown:
            raise KindTableError(cls.__name__, f"stored_as names no field {unknown}")
        if layout.attrs is None:
            taken = {*COMMON_FIELDS, *columns, EXTRA_ATTRS}
            cls.attr_fields = tuple(name for name in cls.model_fields if name not in taken)

    def to_stored(self, zones: ZoneLookup | None = None) -> StoredSignal:
        """The stored row shape; a bare date becomes the end of that day in the client's zone
        (``zones[client]``, UTC if absent). Built without re-validation: this signal was validated
        already, and on an import of a million rows validating twice was a fifth of the time."""
        fields = self.__dict__
        layout = self.stored_as
        if layout.attrs is None:
            attrs = {n: v for n in self.attr_fields if (v := fields[n]) is not None}
            extra = fields.get(EXTRA_ATTRS)
            if extra:
                attrs = {**extra, **attrs}
        else:
            attrs = dict(fields[layout.attrs])
        ts = fields[layout.ts]
        end = None if layout.end is None else fields[layout.end]
        if type(ts) is date or type(end) is date:
            zone = UTC if zones is None else zones.get(self.client, UTC)
            ts = end_of_day(ts, zone) if type(ts) is date else ts
            end = end_of_day(end, zone) if type(end) is date else end
        return StoredSignal(
            self.event_id,
            self.client,
            self.kind,
            ts,
            end,
            None if layout.value is None else fields[layout.value],
            attrs,
            self.source,
            self.recorded_at,
        )

    if TYPE_CHECKING:  # every kind declares ``kind``: a Literal, or any name for custom kinds
        kind: str


class KindTableError(RapportError):
    """A signal kind's model disagrees with itself or with the engine's table of kinds."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"signal kind {kind}: {reason}")


# --- the built-in kinds: a model each, with its ``stored_as`` -----------------------------------
# Adding a kind: a model here, listed in ``BUILTIN_SIGNALS`` below, and its entry in
# ``engine.kinds.BUILTIN_KINDS`` (what rules may filter and measure). Everything else derives.


class BuiltinSignal(SignalModel):
    """A built-in kind: its own fields, plus any further attributes a source carries (``rev``)."""

    attrs: dict[AttrName, AttrValue] = Field(
        default_factory=dict, description="attributes beyond the kind's own, stored with them"
    )

    @model_validator(mode="after")
    def _attrs_are_not_fields(self) -> BuiltinSignal:
        twice = sorted(set(self.attrs) & set(type(self).model_fields))
        if twice:
            raise ValueError(f"attrs.{twice[0]}: is a field of {self.kind} signals; give it once")
        return self


class ResponseTimeSignal(BuiltinSignal):
    """Hours from a client's message or ticket (at ``ts``) to our first reply."""

    stored_as = StoredAs(ts="ts", value="value")

    kind: Literal["response_time"]
    ts: Instant
    value: float = Field(ge=0, description="hours to first reply")
    channel: AttrValue = "other"
    thread: AttrValue | None = None


class MilestoneSignal(BuiltinSignal):
    """A promised delivery: due at ``due``, delivered at ``delivered_at`` (None while open)."""

    stored_as = StoredAs(ts="due", end="delivered_at")

    kind: Literal["milestone"]
    due: DayOrInstant
    delivered_at: DayOrInstant | None = None
    name: AttrValue | None = None
    project: AttrValue | None = None


class SurveySignal(BuiltinSignal):
    """One survey response ``value`` on ``scale`` (nps 0–10, csat 1–5, or a range ``LO..HI``)."""

    stored_as = StoredAs(ts="ts", value="value")

    kind: Literal["survey"]
    ts: Instant
    value: float
    scale: str = "nps"
    survey: AttrValue | None = None

    @model_validator(mode="after")
    def _value_on_scale(self) -> SurveySignal:
        low, high = scale_bounds(self.scale)
        if not low <= self.value <= high:
            scale = f"{self.scale} scale {low:g}..{high:g}"
            raise ValueError(f"value {self.value:g} is outside the {scale}")
        return self


class IncidentSignal(BuiltinSignal):
    """An incident of ``severity`` opened at ``opened_at``, resolved at ``resolved_at`` or open."""

    stored_as = StoredAs(ts="opened_at", end="resolved_at")

    kind: Literal["incident"]
    severity: Severity
    opened_at: Instant
    resolved_at: Instant | None = None
    service: AttrValue | None = None

    @model_validator(mode="after")
    def _resolved_after_opened(self) -> IncidentSignal:
        if self.resolved_at is not None and self.resolved_at < self.opened_at:
            raise ValueError("resolved_at is before opened_at")
        return self


class OutcomeSignal(BuiltinSignal):
    """What happened to the relationship at ``ts``: ``renewed``, ``churned``, ``escalated`` or a
    team's own type (declared under the scorecard's ``signals: outcome: {types: [...]}``; import
    and ingest refuse any other); ``value`` is what it was worth (a contract's value), when
    known."""

    stored_as = StoredAs(ts="ts", value="value")

    kind: Literal["outcome"]
    ts: Instant
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    value: float | None = None
    deal: AttrValue | None = None


class CustomSignal(SignalModel):
    """A numeric signal of a kind declared under the scorecard's ``signals:`` (overdue_invoices)."""

    stored_as = StoredAs(ts="ts", value="value", attrs="attrs")

    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    ts: Instant
    value: float
    attrs: dict[AttrName, AttrValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_builtin(self) -> CustomSignal:
        if self.kind in BUILTIN_KINDS:
            raise ValueError(f"kind {self.kind!r} is built in; use its own fields")
        return self


# --- the table of kinds, and what derives from it ----------------------------------------------


@dataclass(frozen=True)
class SignalKind:
    """One kind's signal-side facts, read off its model (never typed a second time).

    ``fields`` are the payload fields a source may fill (not the common ones), ``required`` those
    it must, ``attrs`` those stored as attributes, ``times`` those stored as ``ts``/``end``.
    """

    name: str
    model: type[SignalModel]
    fields: tuple[str, ...]
    required: frozenset[str]
    attrs: tuple[str, ...]
    times: tuple[str, ...]

    @classmethod
    def of(cls, name: str, model: type[SignalModel]) -> SignalKind:
        layout = model.stored_as
        fields = tuple(n for n in model.model_fields if n not in COMMON_FIELDS and n != EXTRA_ATTRS)
        required = frozenset(n for n in fields if model.model_fields[n].is_required())
        times = tuple(n for n in (layout.ts, layout.end) if n is not None)
        return cls(name, model, fields, required, model.attr_fields, times)

    @property
    def all_times(self) -> tuple[str, ...]:
        """Every time field a payload of this kind may carry: ``times`` and ``recorded_at``."""
        return (*self.times, "recorded_at")

    @property
    def custom(self) -> bool:
        """A custom kind's attributes are free-form (``attrs.<name>``), not fields of its own."""
        return self.model.stored_as.attrs is not None


def _literal_kind(model: type[SignalModel]) -> str:
    (name,) = get_args(model.model_fields["kind"].annotation) or (None,)
    if not isinstance(name, str):
        raise KindTableError(model.__name__, "a built-in kind's 'kind' must be one Literal name")
    return name


def kind_table(*models: type[SignalModel]) -> Mapping[str, SignalKind]:
    """The built-in kinds by name, checked against the engine's table (attributes and names)."""
    table = {}
    for model in models:
        name = _literal_kind(model)
        spec = BUILTIN_KINDS.get(name)
        if spec is None:
            raise KindTableError(name, "is not in engine.kinds.BUILTIN_KINDS")
        if spec.attrs != model.attr_fields:
            raise KindTableError(
                name, f"model attributes {model.attr_fields} != engine attrs {spec.attrs}"
            )
        table[name] = SignalKind.of(name, model)
    missing = sorted(set(BUILTIN_KINDS) - set(table))
    if missing:
        raise KindTableError(", ".join(missing), "has no signal model")
    return table


#: Every built-in kind, by name: the one table the API, imports and collectors derive from.
BUILTIN_SIGNALS = kind_table(
    ResponseTimeSignal, MilestoneSignal, SurveySignal, IncidentSignal, OutcomeSignal
)
#: Any other kind (declared in a scorecard's ``signals:``) has this shape.
CUSTOM_SIGNAL = SignalKind.of("custom", CustomSignal)
#: The union tags: each built-in kind, and ``custom``.
SIGNAL_TAGS = (*BUILTIN_SIGNALS, CUSTOM_SIGNAL.name)
#: Every time field of a payload: those stored as ``ts`` or ``end`` by some kind, and the common
#: ``recorded_at``.
TIME_FIELDS = frozenset(n for k in (*BUILTIN_SIGNALS.values(), CUSTOM_SIGNAL) for n in k.all_times)


def signal_kind(name: str) -> SignalKind:
    """The facts of kind ``name``: a built-in kind's own, or those of every custom kind."""
    return BUILTIN_SIGNALS.get(name, CUSTOM_SIGNAL)


def payload_fields() -> tuple[str, ...]:
    """Every payload field of some kind, in table order: the columns of a signals import file."""
    kinds = (*BUILTIN_SIGNALS.values(), CUSTOM_SIGNAL)
    return tuple(dict.fromkeys(n for kind in kinds for n in kind.fields))


def kind_tag(data: Any) -> str:
    """The union tag of a signal payload: its built-in kind, or ``custom``."""
    kind = data.get("kind") if isinstance(data, dict) else getattr(data, "kind", None)
    return kind if isinstance(kind, str) and kind in BUILTIN_SIGNALS else CUSTOM_SIGNAL.name


def signal_union(models: Mapping[str, type[BaseModel]]) -> Any:
    """A discriminated union of ``models`` (keyed by union tag), picked by ``kind_tag``."""
    members = tuple(Annotated[model, Tag(tag)] for tag, model in models.items())
    return Annotated[Union[members], Discriminator(kind_tag)]  # noqa: UP007 - built at runtime


if TYPE_CHECKING:  # the union is built from the table; to a type checker it is any kind's model
    Signal: TypeAlias = SignalModel
else:
    Signal = signal_union({k.name: k.model for k in (*BUILTIN_SIGNALS.values(), CUSTOM_SIGNAL)})
SIGNAL_ADAPTER: TypeAdapter[Signal] = TypeAdapter(Signal)


def parse_signal(data: Any) -> Signal:
    """Validate one signal (a mapping); raises ``pydantic.ValidationError`` naming the bad field."""
    return SIGNAL_ADAPTER.validate_python(data)


# --- clients --------------------------------------------------------------------------------------


class Owner(BaseModel):
    """The project manager who owns a client relationship (and receives its alerts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Label
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    locale: Annotated[str, Field(pattern=r"^[a-z]{2}([-_][A-Za-z]{2,4})?$")] = "en"


def _known_zone(name: str) -> str:
    """An IANA time zone name zoneinfo knows (``Asia/Shanghai``, ``UTC``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "use an IANA name such as Europe/Berlin, Asia/Shanghai or UTC"
        raise ValueError(f"unknown time zone ({hint})") from None
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class Client(BaseModel):
    """A client in the registry; ``segment`` selects scorecard overrides (e.g. enterprise);
    ``timezone`` (IANA) is where its bare dates end (``due: 2026-06-30`` = midnight after it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ClientId
    name: Label
    segment: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] | None = None
    owner: Owner | None = None
    attrs: dict[str, str | int | float | bool] = Field(default_factory=dict)
    timezone: TimeZoneName | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The client's time zone (UTC when ``timezone`` is not set)."""
        return ZoneInfo(self.timezone or "UTC")

    def attrs_json(self) -> str:
        return json.dumps(self.attrs, sort_keys=True)


def client_zones(clients: Iterable[Client]) -> dict[str, tzinfo]:
    """``{client id: time zone}`` of ``clients``, for ``SignalModel.to_stored``."""
    return {client.id: client.zone for client in clients}
