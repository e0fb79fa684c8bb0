"""Signals and clients as they cross Rapport's boundary (imports, collectors, the push API).

Each built-in kind has its own typed model; ``parse_signal`` picks the model by ``kind``. Every
model flattens to a ``StoredSignal``, the one row shape the store and the scorer's arrays share.
Naive timestamps are read as UTC; a bare date ``due`` means the end of that day (UTC).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

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

from rapport.engine.model import BUILTIN_KINDS, scale_bounds

ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
EventId = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(min_length=1, max_length=200)]
AttrValue = Annotated[str, Field(max_length=200)]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]


def _as_utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 has no UTC instant
        raise ValueError("date-time is out of range") from None


_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bare_date_as_end_of_day(value: Any) -> Any:
    """A due date without a time means "by the end of that day", so it becomes next midnight UTC."""
    if isinstance(value, str) and _BARE_DATE.match(value.strip()):
        value = date.fromisoformat(value.strip())
    if isinstance(value, date) and not isinstance(value, datetime):
        if value == date.max:
            raise ValueError("date is out of range")
        return datetime.combine(value + timedelta(days=1), time(0), tzinfo=UTC)
    return value


Instant = Annotated[datetime, AfterValidator(_as_utc)]
DayOrInstant = Annotated[
    datetime, BeforeValidator(_bare_date_as_end_of_day), AfterValidator(_as_utc)
]


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """The one row shape of every signal: what the store keeps and the scorer's arrays are built of.

    ``ts`` is the time windows are measured on; ``end`` the delivery/resolution time (None while
    open); ``value`` is None for kinds that have none. Times are timezone-aware UTC.

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


class _Signal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    event_id: EventId
    client: ClientId
    source: Label = "manual"

    def to_stored(self) -> StoredSignal:
        """The stored row shape. Built without re-validation: this signal was validated already,
        and on an import of a million rows validating twice was a fifth of the time."""
        raise NotImplementedError  # every concrete kind below defines it


def _attrs(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


class ResponseTimeSignal(_Signal):
    """Hours from a client's message or ticket (at ``ts``) to our first reply."""

    kind: Literal["response_time"]
    ts: Instant
    value: float = Field(ge=0, description="hours to first reply")
    channel: AttrValue = "other"
    thread: AttrValue | None = None

    def to_stored(self) -> StoredSignal:
        return StoredSignal(
            event_id=self.event_id,
            client=self.client,
            kind=self.kind,
            ts=self.ts,
            value=self.value,
            attrs=_attrs(channel=self.channel, thread=self.thread),
            source=self.source,
        )


class MilestoneSignal(_Signal):
    """A promised delivery: due at ``due``, delivered at ``delivered_at`` (None while open)."""

    kind: Literal["milestone"]
    due: DayOrInstant
    delivered_at: DayOrInstant | None = None
    name: AttrValue | None = None
    project: AttrValue | None = None

    def to_stored(self) -> StoredSignal:
        return StoredSignal(
            event_id=self.event_id,
            client=self.client,
            kind=self.kind,
            ts=self.due,
            end=self.delivered_at,
            attrs=_attrs(name=self.name, project=self.project),
            source=self.source,
        )


class SurveySignal(_Signal):
    """One survey response ``value`` on ``scale`` (nps 0–10, csat 1–5, or a range ``LO..HI``)."""

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

    def to_stored(self) -> StoredSignal:
        return StoredSignal(
            event_id=self.event_id,
            client=self.client,
            kind=self.kind,
            ts=self.ts,
            value=self.value,
            attrs=_attrs(scale=self.scale, survey=self.survey),
            source=self.source,
        )


class IncidentSignal(_Signal):
    """An incident of ``severity`` opened at ``opened_at``, resolved at ``resolved_at`` or open."""

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

    def to_stored(self) -> StoredSignal:
        return StoredSignal(
            event_id=self.event_id,
            client=self.client,
            kind=self.kind,
            ts=self.opened_at,
            end=self.resolved_at,
            attrs=_attrs(severity=self.severity, service=self.service),
            source=self.source,
        )


class CustomSignal(_Signal):
    """A numeric signal of a kind declared under the scorecard's ``signals:`` (overdue_invoices)."""

    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    ts: Instant
    value: float
    attrs: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], AttrValue] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _not_builtin(self) -> CustomSignal:
        if self.kind in BUILTIN_KINDS:
            raise ValueError(f"kind {self.kind!r} is built in; use its own fields")
        return self

    def to_stored(self) -> StoredSignal:
        return StoredSignal(
            event_id=self.event_id,
            client=self.client,
            kind=self.kind,
            ts=self.ts,
            value=self.value,
            attrs=dict(self.attrs),
            source=self.source,
        )


def kind_tag(data: Any) -> str:
    """The union tag of a signal payload: its built-in kind, or ``custom``."""
    kind = data.get("kind") if isinstance(data, dict) else getattr(data, "kind", None)
    return kind if isinstance(kind, str) and kind in BUILTIN_KINDS else "custom"


Signal = Annotated[
    Annotated[ResponseTimeSignal, Tag("response_time")]
    | Annotated[MilestoneSignal, Tag("milestone")]
    | Annotated[SurveySignal, Tag("survey")]
    | Annotated[IncidentSignal, Tag("incident")]
    | Annotated[CustomSignal, Tag("custom")],
    Discriminator(kind_tag),
]
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


class Client(BaseModel):
    """A client in the registry; ``segment`` selects scorecard overrides (e.g. enterprise)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ClientId
    name: Label
    segment: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] | None = None
    owner: Owner | None = None
    attrs: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def attrs_json(self) -> str:
        return json.dumps(self.attrs, sort_keys=True)
