"""Request and response bodies of the HTTP API (``/api/v1``), as pydantic models.

Incoming signals reuse ``signals.model``'s per-kind models with strict numbers and text-only
timestamps: ``"value": "3.5"`` or ``"ts": 1700000000`` is refused, never silently converted. A
batch is checked as a whole for its shape only (a list of 1 to ``MAX_SIGNALS_PER_REQUEST`` items);
each item is validated on its own by ``parse_signal_in``, so that one bad item is rejected alone.

Scores, deltas and history points are answered rounded to ``SCORE_DECIMALS`` (2) decimal places
(``-4.51``, not ``-4.511916436000007``): a hundredth of a point is finer than any rule means, and
the float noise of a subtraction is not information. Stored values keep full precision.
"""

from __future__ import annotations

import re
from datetime import datetime
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Literal,
    TypeAlias,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    Strict,
    TypeAdapter,
    create_model,
)

from rapport.engine.errors import Finding
from rapport.engine.result import AppliedLimit, ComponentScore
from rapport.signals.model import (
    BUILTIN_SIGNALS,
    CUSTOM_SIGNAL,
    Client,
    Signal,
    SignalKind,
    signal_union,
)

#: The most signals one ``POST /signals`` request may carry.
MAX_SIGNALS_PER_REQUEST = 5000
#: The most clients one ``PUT /clients`` request may carry.
MAX_CLIENTS_PER_REQUEST = 20000


_YEAR = re.compile(r"^\s*(\d{4})-")


def _text_only(value: Any) -> Any:
    """Timestamps must be ISO 8601 text; a bare number is refused rather than read as epoch.

    Years are kept within 1900–8999 so that converting to UTC (or a due date to the end of its
    day) can never leave the range of ``datetime``.
    """
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string such as 2026-05-01T09:30:00Z")
    year = _YEAR.match(value)
    if year is not None and not 1900 <= int(year.group(1)) <= 8999:
        raise ValueError("the year must be between 1900 and 8999")
    return value


StrictNumber = Annotated[float, Strict()]


def _text_time(hint: Any) -> Any:
    """``hint`` (a time field's type, perhaps ``X | None``) with text-only input."""
    arms = get_args(hint) if get_origin(hint) in (Union, UnionType) else ()
    if type(None) in arms:
        (inner,) = (arm for arm in arms if arm is not type(None))
        return Annotated[inner, BeforeValidator(_text_only)] | None
    return Annotated[hint, BeforeValidator(_text_only)]


def strict_model(kind: SignalKind) -> type[BaseModel]:
    """The push API's model of ``kind``: its own, with text-only times and a strict ``value``.

    ``ResponseTimeSignal`` → ``ResponseTimeIn`` (the name the OpenAPI document shows).
    """
    model = kind.model
    hints = get_type_hints(model, include_extras=True)
    overrides: dict[str, Any] = {}
    for name in kind.all_times:
        info = model.model_fields[name]
        overrides[name] = (_text_time(hints[name]), ... if info.is_required() else info.default)
    value = model.stored_as.value
    if value is not None:
        overrides[value] = (StrictNumber, model.model_fields[value])
    name = model.__name__.removesuffix("Signal") + "In"
    return create_model(name, __base__=model, __module__=__name__, **overrides)


_KINDS_IN = {kind.name: strict_model(kind) for kind in (*BUILTIN_SIGNALS.values(), CUSTOM_SIGNAL)}
if TYPE_CHECKING:
    SignalIn: TypeAlias = Signal
else:
    SignalIn = signal_union(_KINDS_IN)
_SIGNAL_IN: TypeAdapter[SignalIn] = TypeAdapter(SignalIn)


def parse_signal_in(item: Any) -> SignalIn:
    """Validate one item of a ``SignalBatch`` strictly; raises ``pydantic.ValidationError`` whose
    locations start at the item (after the union tag of its kind)."""
    return _SIGNAL_IN.validate_python(item)


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalBatch(_Body):
    """Signals to store; each is idempotent by ``event_id``.

    The items are documented as ``SignalIn`` but arrive unvalidated (``SkipValidation``): the
    route validates each with ``parse_signal_in`` and rejects the bad ones one by one."""

    signals: list[SkipValidation[SignalIn]] = Field(
        min_length=1, max_length=MAX_SIGNALS_PER_REQUEST
    )


class AcceptedItem(_Body):
    index: int
    event_id: str
    status: Literal["inserted", "updated"]
    unscored: bool = Field(
        default=False,
        description="true (else absent) when the client is not in the registry: the signal is "
        "stored, and scored once the client is registered",
    )


class SkippedItem(_Body):
    index: int
    event_id: str
    reason: str


class IngestResult(_Body):
    """What happened to each item of a batch; everything accepted is committed."""

    accepted: list[AcceptedItem]
    duplicates: list[SkippedItem]
    rejected: list[SkippedItem]
    unscored: list[str] = Field(
        description="ids of the clients of accepted items that are not in the registry, sorted"
    )


class ErrorBody(_Body):
    """Every error response: a human-readable reason (422s add pydantic's ``detail`` list)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    reason: str


#: Decimal places of scores, deltas and history points in API answers (see the module docstring).
SCORE_DECIMALS = 2


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, SCORE_DECIMALS)


#: A score-like number as answered: rounded to ``SCORE_DECIMALS``.
Rounded = Annotated[float | None, AfterValidator(_rounded)]


class OwnerOut(_Body):
    name: str
    email: str
    slug: str


class ClientSummary(_Body):
    """A client as listed: registry fields plus its latest evaluated health."""

    id: str
    name: str
    segment: str | None
    owner: OwnerOut | None
    score: Rounded = Field(
        description="0-100, rounded to 2 decimals; null when there is no data or insufficient_data"
    )
    grade: str | None = Field(description="a scorecard grade, insufficient_data, or null")
    coverage: float | None = Field(
        description="share (0-1) of the scorecard's weight measured from signals; below its "
        "min_coverage the grade is insufficient_data and score is null"
    )
    delta_7d: Rounded = Field(description="score change against 7 days before as_of (2 decimals)")
    delta_30d: Rounded = Field(description="score change against 30 days before as_of (2 decimals)")
    stale: list[str] = Field(description="components whose data is stale or carried")
    as_of: datetime | None


class ClientPage(_Body):
    items: list[ClientSummary]
    total: int
    offset: int
    limit: int
    as_of: datetime | None
    rules_version: str | None


class ClientDetail(ClientSummary):
    attrs: dict[str, str | int | float | bool]
    rules_version: str | None
    components: dict[str, ComponentScore]
    limits: list[AppliedLimit]
    covered: list[str] = Field(description="the components measured from signals (status ok)")
    provisional_score: float | None = Field(
        description="for insufficient_data only: the score the data there is would give"
    )
    last_signals: dict[str, datetime] = Field(description="newest signal time per kind")


class HistoryPoint(_Body):
    as_of: datetime
    score: Rounded = Field(description="0-100, rounded to 2 decimals")
    grade: str | None
    coverage: float | None = Field(description="null for scores stored before coverage existed")
    rules_version: str
    components: dict[str, Rounded] = Field(description="points per component (2 decimals)")


class HistoryOut(_Body):
    client: str
    points: list[HistoryPoint]


class ClientWritten(_Body):
    client: Client
    status: Literal["inserted", "updated", "unchanged"]


class ClientsBatch(_Body):
    clients: list[Client] = Field(min_length=1, max_length=MAX_CLIENTS_PER_REQUEST)


class RegistryResult(_Body):
    inserted: int
    updated: int
    unchanged: int
    removed: int


class FindingOut(_Body):
    path: str
    line: int
    column: int
    key: str
    message: str
    hint: str | None
    text: str = Field(description="path:line:col: key: message (hint), as the CLI prints it")

    @classmethod
    def of(cls, finding: Finding) -> FindingOut:
        return cls(
            path=finding.path,
            line=finding.line,
            column=finding.column,
            key=finding.key,
            message=finding.message,
            hint=finding.hint,
            text=str(finding),
        )


class ReloadOut(_Body):
    ok: bool
    at: datetime
    version: str | None = Field(description="version now serving (ok) or rejected (not ok)")
    findings: list[FindingOut]


class GradeOut(_Body):
    name: str
    min: float
    color: str


class RulesOut(_Body):
    version: str
    directory: str
    files: list[str]
    scorecard: str
    components: list[str]
    grades: list[GradeOut]
    last_reload: ReloadOut | None


class ValidateOut(_Body):
    ok: bool
    findings: list[FindingOut]


class EvaluateOut(_Body):
    as_of: datetime
    rules_version: str
    clients: int
    scored: int
    duration_seconds: float


class HealthOut(_Body):
    status: Literal["ok"]


class ReadyOut(_Body):
    ready: bool
    checks: dict[str, str] = Field(description="'ok' or why not, per check")


class PreviewOut(_Body):
    """``POST /api/v1/rules/preview``: the proposed rules' findings, or their diff against the
    serving rules (``api.diff_output.diff_json``: summary, counts, the clients that differ)."""

    ok: bool
    findings: list[FindingOut]
    diff: dict[str, Any] | None = Field(
        default=None, description="base = serving rules, head = proposed; None when not ok"
    )
