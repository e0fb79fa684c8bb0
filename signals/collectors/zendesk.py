"""``zendesk``: first-reply times from Zendesk Support → ``response_time`` signals.

Modelled on Zendesk's cursor-based Incremental Ticket Export with the metric sets side-loaded,
https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
(``GET /api/v2/incremental/tickets/cursor.json?start_time=…|cursor=…&include=metric_sets``;
the page carries ``tickets``, ``metric_sets``, ``after_cursor`` and ``end_of_stream``), and on the
Ticket Metrics JSON format, https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_metrics/
(``reply_time_in_minutes: {calendar, business}``, null until an agent replies).

- One page per fetch. The first run starts at ``start_time`` (default: ``initial_lookback`` — 90
  days — before now, or longer when the scorecard reads more ``response_time`` history, or
  ``backfill:`` when set; see ``backfill.py``); every later page and run passes the
  ``after_cursor`` Zendesk returned. ``end_of_stream: true`` ends the run, and — as Zendesk
  prescribes — its ``after_cursor`` is kept for the next run, which then gets exactly the
  tickets changed since.
- A ticket → one ``response_time``: ``ts`` = ticket ``created_at``; value = the metric set's
  ``reply_time_in_minutes`` (``hours: calendar`` or ``business``) / 60; ``channel`` =
  ``via.channel``; ``thread`` = the ticket id. event_id ``zendesk:ticket:<id>``: a later export
  of the same ticket updates its row.
- A ticket nobody has replied to yet makes no signal (it is exported again when someone replies);
  deleted tickets are excluded. A ticket without a usable ``id``/``created_at`` or without a
  metric set is skipped with its reason; the rest of the page is kept.
- Client: the ticket's ``organization_id`` through the registry attribute
  ``zendesk_organization_id``; a ticket without an organization counts as unmapped ``<none>``.
- Auth: HTTP basic ``{email}/token`` : API token (``token_env`` / ``token_file``).

Example ``collectors.yaml`` entry::

    helpdesk:
      type: zendesk
      schedule: {interval: 15m}
      base_url: https://acme.zendesk.com
      email: pm@acme.example
      token_env: ZENDESK_TOKEN
      hours: business              # first-reply time in business hours (default: calendar)
      initial_lookback: 30d        # the first run reads tickets changed in the last 30 days
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BadCursorError,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http_collector import (
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    basic,
)
from rapport.signals.collectors.items import (
    ItemError,
    convert_items,
    instant,
    labeller,
    optional,
    page_items,
    require,
    to_signal,
)
from rapport.signals.model import Instant, StoredSignal

PATH = "/api/v2/incremental/tickets/cursor.json"
NAME = "zendesk"


class ZendeskConfig(HttpSourceConfig):
    """``base_url`` is the account (https://acme.zendesk.com); ``email`` the API user's address."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    hours: Literal["calendar", "business"] = "calendar"
    start_time: Instant | None = None
    initial_lookback: Duration = 90 * 86400.0
    page_size: int = Field(default=1000, ge=1, le=1000)


class ZendeskCollector(
    HttpCollector[ZendeskConfig],
    name=NAME,
    kinds=("response_time",),
    client_attribute="zendesk_organization_id",
):
    """Ticket first-reply times → ``response_time`` (see the module docstring)."""

    def auth(self, context: FetchContext) -> Credentials:
        """Basic ``{email}/token`` : API token, as Zendesk's API token auth prescribes."""
        return basic(f"{self.config.email}/token", self.token(context))

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        source = self.source(context)
        position = self._position(cursor, context)
        params = {"include": "metric_sets", "exclude_deleted": "true"}
        page = source.get(PATH, {**position, **params, "per_page": self.config.page_size})
        where = f"GET {source.url(PATH)}"
        tickets = page_items(page.body, "tickets", where, NAME)
        metrics = _metric_sets(page.body)
        signals = convert_items(
            tickets,
            lambda ticket: self._signal(ticket, metrics, context),
            labeller("zendesk:ticket:"),
            context,
        )
        after = page.body.get("after_cursor")
        end = page.body.get("end_of_stream")
        if not isinstance(end, bool):
            raise CollectorError(NAME, f"{where}: unexpected response: 'end_of_stream' is missing")
        if isinstance(after, str) and after:
            return FetchResult(signals, {"after_cursor": after}, more=not end)
        return FetchResult(signals, position, more=False)

    def _position(self, cursor: JsonValue, context: FetchContext) -> dict[str, Any]:
        """Where to read from: the saved ``after_cursor``, else a start time."""
        if cursor is None:
            lookback = context.first_run_seconds(self.config.initial_lookback)
            start = self.config.start_time or context.now.timestamp() - lookback
            moment = start.timestamp() if isinstance(start, datetime) else start
            return {"start_time": int(moment)}
        if isinstance(cursor, dict) and isinstance(cursor.get("after_cursor"), str):
            return {"cursor": cursor["after_cursor"]}
        if isinstance(cursor, dict) and isinstance(cursor.get("start_time"), int):
            return {"start_time": cursor["start_time"]}
        raise BadCursorError(NAME, cursor)

    def _signal(
        self, ticket: Any, metrics: dict[int, Any], context: FetchContext
    ) -> StoredSignal | None:
        ticket_id = require(ticket, "id", int)
        created = instant(require(ticket, "created_at", str), "created_at")
        organization = optional(ticket, "organization_id", int)
        if ticket_id not in metrics:
            raise ItemError("no metric set was side-loaded for this ticket")
        require(metrics[ticket_id], "reply_time_in_minutes", dict)
        hours = f"reply_time_in_minutes.{self.config.hours}"
        minutes = optional(metrics[ticket_id], hours, (int, float))
        if minutes is None or optional(ticket, "status", str) == "deleted":
            return None  # no reply yet: the export brings the ticket back when one is sent
        client = context.clients.resolve(organization if organization is not None else "<none>")
        if client is None:
            return None
        return to_signal(
            {
                "kind": "response_time",
                "event_id": f"zendesk:ticket:{ticket_id}",
                "client": client,
                "ts": created,
                "recorded_at": created,  # the ticket existed from then on
                "value": minutes / 60,
                "channel": optional(ticket, "via.channel", str) or "zendesk",
                "thread": str(ticket_id),
                "source": NAME,
            }
        )


def _metric_sets(body: Any) -> dict[int, Any]:
    """ticket id → its side-loaded metric set (entries without an integer ticket_id are ignored:
    the ticket they belong to is then skipped as having none)."""
    result: dict[int, Any] = {}
    for metric in body.get("metric_sets") or []:
        ticket_id = metric.get("ticket_id") if isinstance(metric, dict) else None
        if isinstance(ticket_id, int) and not isinstance(ticket_id, bool):
            result[ticket_id] = metric
    return result
