"""``http_json``: any JSON REST endpoint → signals of one kind, through JMESPath mappings.

For sources without a dedicated connector (an internal CRM, a status page, a BI export). The
expressions are JMESPath (https://jmespath.org/specification.html); a config names:

- where the list of items is in a page (``items``, e.g. ``data.tickets``; ``@`` = the page is the
  list), and per item its ``event_id`` (prefixed ``<event_prefix>:``), its ``client`` and every
  signal field in ``fields`` — the field names of the push API for ``kind``: ``ts``/``value``/
  ``channel``/``thread`` (response_time), ``due``/``delivered_at``/``name``/``project``
  (milestone), ``ts``/``value``/``scale``/``survey`` (survey), ``severity``/``opened_at``/
  ``resolved_at``/``service`` (incident), and ``ts``/``value``/``attrs.<name>`` for a custom kind.
  Times may be ISO 8601 strings or epoch seconds; a bare date ``due`` is the end of that day.
- ``pagination``: ``none``; ``page`` (a page-number parameter, stopping at an empty or short
  page); ``cursor`` (a token found in the body by a JMESPath, sent back as a parameter; stops when
  it is missing); or ``link`` (the ``Link: <…>; rel="next"`` header, which must stay on
  ``base_url``, as in RFC 8288 and GitHub's API).
- ``incremental`` (optional): a query parameter carrying a lower bound, and the item field holding
  its change time; a finished sweep saves the newest change time seen minus ``overlap``, the next
  sweep sends it. Without it every run re-reads everything (safe: event ids make it an update).

The client value goes through the run's client map: by default it must be a client id from the
registry; with ``client_attribute:`` in collectors.yaml it is a source id mapped through that
attribute. Items whose mapping fails are counted as unmapped; items whose fields do not validate
as a signal are skipped with the reason. One page per fetch.

Example ``collectors.yaml`` entry::

    crm:
      type: http_json
      schedule: {interval: 30m}
      client_attribute: crm_account       # omit when the items carry Rapport client ids
      base_url: https://crm.internal.example
      path: /api/v1/tickets
      token_env: CRM_TOKEN                # sent as "Authorization: Bearer <token>"
      kind: response_time
      items: data.items
      event_id: ref
      event_prefix: crm
      client: account
      fields: {ts: opened, value: first_reply_hours, channel: medium}
      pagination: {type: page, param: page, size_param: per_page, size: 100}
      incremental: {param: updated_since, field: updated, overlap: 5m}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

import jmespath
from jmespath.parser import ParsedResult
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BadCursorError,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http import JsonResponse
from rapport.signals.collectors.http_collector import (
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    bearer,
)
from rapport.signals.collectors.items import ItemError, convert_items, instant, to_signal
from rapport.signals.model import BUILTIN_SIGNALS, Instant, StoredSignal, signal_kind

NAME = "http_json"


def _compiles(expression: str) -> str:
    try:
        jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as error:
        message = " ".join(str(error).split())
        raise ValueError(f"not a JMESPath expression ({message})") from None
    return expression


JMESPath = Annotated[str, Field(min_length=1), AfterValidator(_compiles)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]

#: Fields sent as text even when the JSON has a number: the built-in kinds' attributes.
TEXT_FIELDS = frozenset(name for kind in BUILTIN_SIGNALS.values() for name in kind.attrs)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoPages(_Spec):
    type: Literal["none"] = "none"


class PageNumbers(_Spec):
    """``?page=1``, ``?page=2``… until a page comes back empty (or shorter than ``size``)."""

    type: Literal["page"]
    param: str = "page"
    start: int = Field(default=1, ge=0)
    size_param: str | None = None
    size: int | None = Field(default=None, ge=1)


class CursorToken(_Spec):
    """The next page's token is at ``next`` in the body; it is sent back as ``param``."""

    type: Literal["cursor"]
    param: str = "cursor"
    next: JMESPath


class LinkHeader(_Spec):
    """``Link: <url>; rel="next"`` (RFC 8288)."""

    type: Literal["link"]


Pagination = Annotated[
    NoPages | PageNumbers | CursorToken | LinkHeader, Field(discriminator="type")
]


class Incremental(_Spec):
    """Send ``param`` = the newest ``field`` seen by the last sweep minus ``overlap``."""

    param: str = Field(min_length=1)
    field: JMESPath
    format: Literal["iso", "epoch"] = "iso"
    overlap: Duration = 60.0
    start: Instant | None = None


class HttpJsonConfig(HttpSourceConfig):
    """A JSON endpoint under ``base_url`` + ``path`` mapped to signals of ``kind``."""

    token_required: ClassVar[bool] = False

    path: str = Field(default="", pattern=r"^(/[^?#]*)?$")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    kind: Identifier
    items: JMESPath = "@"
    event_id: JMESPath
    event_prefix: str = Field(default=NAME, pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    client: JMESPath
    fields: dict[str, JMESPath]
    pagination: Pagination = Field(default_factory=NoPages)
    incremental: Incremental | None = None

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> HttpJsonConfig:
        kind = signal_kind(self.kind)
        allowed, required, custom = frozenset(kind.fields), kind.required, kind.custom
        unknown = [
            name
            for name in self.fields
            if name not in allowed and not (custom and _attr_name(name) is not None)
        ]
        if unknown:
            hint = ", ".join(sorted(allowed)) + (", attrs.<name>" if custom else "")
            raise ValueError(
                f"fields {sorted(unknown)} do not belong to kind {self.kind!r} ({hint})"
            )
        missing = sorted(required - set(self.fields))
        if missing:
            raise ValueError(f"kind {self.kind!r} needs a mapping for {missing}")
        if any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("an Authorization header is a secret: use token_env or token_file")
        return self


def _attr_name(field: str) -> str | None:
    name = field.removeprefix("attrs.")
    return name if field.startswith("attrs.") and name.isidentifier() and name.islower() else None


class HttpJsonCollector(HttpCollector[HttpJsonConfig], name=NAME):
    """A generic JSON REST source (see the module docstring). It produces the configured
    ``kind`` (the runner reads ``config.kind``); its ``client`` values are client ids unless
    collectors.yaml names a ``client_attribute``."""

    def __init__(self, config: HttpJsonConfig) -> None:
        super().__init__(config)
        self._items = jmespath.compile(config.items)
        self._event_id = jmespath.compile(config.event_id)
        self._client = jmespath.compile(config.client)
        self._fields = {name: jmespath.compile(expr) for name, expr in config.fields.items()}
        incremental = config.incremental
        self._changed = jmespath.compile(incremental.field) if incremental else None

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        state = _State.from_cursor(cursor, self.config)
        page = self._get(state, context)
        items = self._items.search(page.body)
        if not isinstance(items, list):
            raise CollectorError(NAME, f"'items' ({self.config.items}) did not select a list")
        signals = convert_items(
            items, lambda item: self._signal(item, context), self._label, context
        )
        state.saw(items, self._changed)
        following = self._next(state, page, items)
        if following is not None:
            return FetchResult(signals, state.to_cursor(following), more=True)
        return FetchResult(signals, state.finished(self.config.incremental))

    def auth(self, context: FetchContext) -> Credentials:
        """The optional secret as ``auth_header: auth_scheme <token>`` (none when unset)."""
        token = self.optional_token(context)
        return bearer(token, self.config.auth_scheme, self.config.auth_header)

    def headers(self) -> Mapping[str, str]:
        return self.config.headers

    def _get(self, state: _State, context: FetchContext) -> JsonResponse:
        source = self.source(context)
        if isinstance(self.config.pagination, LinkHeader) and isinstance(state.position, str):
            return source.get(state.position)
        params: dict[str, Any] = dict(self.config.params)
        if self.config.incremental and state.since is not None:
            params[self.config.incremental.param] = state.since
        pagination = self.config.pagination
        if isinstance(pagination, PageNumbers):
            params[pagination.param] = (
                state.position if state.position is not None else pagination.start
            )
            if pagination.size_param and pagination.size:
                params[pagination.size_param] = pagination.size
        elif isinstance(pagination, CursorToken) and state.position is not None:
            params[pagination.param] = state.position
        return source.get(self.config.path, params)

    def _next(self, state: _State, page: JsonResponse, items: list[Any]) -> int | str | None:
        """The next page's position, or None when this was the last page."""
        pagination = self.config.pagination
        if isinstance(pagination, PageNumbers):
            short = pagination.size is not None and len(items) < pagination.size
            current = state.position if isinstance(state.position, int) else pagination.start
            return None if not items or short else current + 1
        if isinstance(pagination, CursorToken):
            token = jmespath.search(pagination.next, page.body)
            if isinstance(token, int | str) and token not in ("", state.position):
                return token
            return None
        if isinstance(pagination, LinkHeader):
            return page.link("next")
        return None

    def _signal(self, item: Any, context: FetchContext) -> StoredSignal | None:
        data: dict[str, Any] = {"kind": self.config.kind, "source": NAME, "attrs": {}}
        data["event_id"] = (
            f"{self.config.event_prefix}:{_text(self._event_id.search(item), 'event_id')}"
        )
        for name, expression in self._fields.items():
            value = expression.search(item)
            if value is None:
                continue
            attr = _attr_name(name)
            if attr is not None:
                data["attrs"][attr] = _text(value, name)
            else:
                data[name] = _text(value, name) if name in TEXT_FIELDS else value
        if not signal_kind(self.config.kind).custom:
            del data["attrs"]
        client = context.clients.resolve(_text(self._client.search(item), "client"))
        if client is None:
            return None
        data["client"] = client
        return to_signal(data)

    def _label(self, item: Any) -> str:
        try:
            return f"{self.config.event_prefix}:{_text(self._event_id.search(item), 'event_id')}"
        except ItemError:
            return f"{self.config.event_prefix}:?"


def _text(value: Any, name: str) -> str:
    """A scalar as text (ids and labels are often numbers in JSON); anything else is an error."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    shown = "nothing" if value is None else f"a {type(value).__name__}"
    raise ItemError(f"{name} expression gave {shown}, expected text or a number")


class _State:
    """Where a sweep is: the page position, its lower bound, and the newest change time seen."""

    def __init__(self, position: int | str | None, since: Any, newest: str | None) -> None:
        self.position, self.since, self.newest = position, since, newest

    @classmethod
    def from_cursor(cls, cursor: JsonValue, config: HttpJsonConfig) -> _State:
        if cursor is None:
            start = config.incremental.start if config.incremental else None
            return cls(None, _bound(start, config.incremental) if start else None, None)
        if isinstance(cursor, dict) and set(cursor) == {"position", "since", "newest"}:
            position, newest = cursor["position"], cursor["newest"]
            if isinstance(position, int | str | None) and isinstance(newest, str | None):
                return cls(position, cursor["since"], newest)
        raise BadCursorError(NAME, cursor)

    def saw(self, items: list[Any], changed: ParsedResult | None) -> None:
        """Keep the newest change time among ``items`` (unparseable ones are ignored here; the
        item itself is judged by its signal fields)."""
        if changed is None:
            return
        for item in items:
            try:
                moment = instant(changed.search(item), "incremental.field")
            except ItemError:
                continue
            if self.newest is None or moment > datetime.fromisoformat(self.newest):
                self.newest = moment.isoformat()

    def to_cursor(self, position: int | str | None) -> dict[str, Any]:
        return {"position": position, "since": self.since, "newest": self.newest}

    def finished(self, incremental: Incremental | None) -> dict[str, Any] | None:
        """The cursor the next sweep starts from (None: re-read everything next time)."""
        if incremental is None:
            return None
        since = self.since
        if self.newest is not None:
            moment = datetime.fromisoformat(self.newest) - timedelta(seconds=incremental.overlap)
            since = _bound(moment, incremental)
        return {"position": None, "since": since, "newest": None}


def _bound(moment: datetime, incremental: Incremental | None) -> str | int:
    if incremental is not None and incremental.format == "epoch":
        return int(moment.timestamp())
    return moment.isoformat()
