"""``pagerduty``: incidents → ``incident`` signals.

Modelled on PagerDuty's REST API v2 "List incidents",
https://developer.pagerduty.com/api-reference/9d0b4b12e36f9-list-incidents
(``GET /incidents?since=&until=&offset=&limit=&sort_by=created_at:asc&service_ids[]=`` →
``{incidents: [...], limit, offset, more, total}``; an incident has ``id``, ``created_at``,
``status`` triggered|acknowledged|resolved, ``urgency`` high|low, ``priority`` (a reference whose
``summary`` is the priority name, e.g. ``P1``, or null), ``service`` {id, summary},
``last_status_change_at`` and ``resolved_at``), on its classic offset pagination, whose
``offset + limit`` may not pass 10,000 (as PagerDuty's team restates at
https://community.pagerduty.com/ask-a-product-question-2/rate-limit-of-api-98), and on its auth
header ``Authorization: Token token=…``. Rate limits, per
https://support.pagerduty.com/docs/rest-api-rate-limits: a 429 carries ``ratelimit-reset``, "how
many seconds to wait before retrying"; the transport waits that long (up to ``max_wait``).
``since``/``until`` may span six months at most
(https://community.pagerduty.com/ask-a-product-question-2/incidents-don-t-show-up-in-rest-api-176).

- A sweep asks for incidents created in [since, until]: the first one from ``initial_lookback``
  before now (30 days, or longer when the scorecard reads more ``incident`` history — the shipped
  one's ``open_sev1`` cap reads all of it, a year for a first run — or ``backfill:`` when set;
  a first sweep longer than six months reads it in consecutive six-month windows), each later
  one from the creation time of the oldest incident the previous sweep saw
  still open — so a resolution arriving later is read back — or, when none was open, from the
  previous sweep's ``until`` (never more than six months back: an incident open longer than that
  is no longer re-read). One page per fetch; when the 10,000 offset cap is near, the window
  slides to the last incident read (re-reading a few only updates them).
- An incident → ``incident``: opened = ``created_at``; resolved = ``resolved_at`` if present, else
  ``last_status_change_at`` when ``status`` is resolved; severity = ``priority_severity`` of the
  priority name if it has one there, else ``urgency_severity`` of the urgency (defaults: P1→sev1,
  P2→sev2, P3→sev3, P4/P5→sev4; high→sev2, low→sev4); service = the service's name.
  event_id ``pagerduty:incident:<id>``.
- Client: the service id through the registry attribute ``pagerduty_service``.

Example ``collectors.yaml`` entry::

    pager:
      type: pagerduty
      schedule: {interval: 10m}
      base_url: https://api.pagerduty.com
      token_env: PAGERDUTY_TOKEN
      service_ids: [PIJ90N7, PWIXJZS]     # omit for every service
      urgency_severity: {high: sev2, low: sev3}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BadCursorError,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http import WaitHeader
from rapport.signals.collectors.http_collector import Credentials, HttpCollector, HttpSourceConfig
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
from rapport.signals.model import Severity, StoredSignal

NAME = "pagerduty"
PATH = "/incidents"
OFFSET_CAP = 10_000  # PagerDuty refuses offset + limit beyond this
MAX_RANGE = timedelta(days=179)  # since..until may span six months at most
PRIORITIES: dict[str, Severity] = {
    "P1": "sev1",
    "P2": "sev2",
    "P3": "sev3",
    "P4": "sev4",
    "P5": "sev4",
}
URGENCIES: dict[str, Severity] = {"high": "sev2", "low": "sev4"}
API_HEADERS = {"Accept": "application/vnd.pagerduty+json;version=2"}


class PagerDutyConfig(HttpSourceConfig):
    """``base_url`` is https://api.pagerduty.com (or the EU service region's API root)."""

    service_ids: list[str] = Field(default_factory=list)
    priority_severity: dict[str, Severity] = Field(default_factory=lambda: dict(PRIORITIES))
    urgency_severity: dict[str, Severity] = Field(default_factory=lambda: dict(URGENCIES))
    initial_lookback: Duration = 30 * 86400.0
    page_size: int = Field(default=100, ge=1, le=100)


class PagerDutyCollector(
    HttpCollector[PagerDutyConfig],
    name=NAME,
    kinds=("incident",),
    client_attribute="pagerduty_service",
):
    """Incidents → ``incident`` (see the module docstring)."""

    rate_limit_headers = (WaitHeader("ratelimit-reset", "seconds", rate_limit_only=True),)

    def auth(self, context: FetchContext) -> Credentials:
        """PagerDuty's REST API key scheme: ``Authorization: Token token=<key>``."""
        return Credentials(headers={"Authorization": f"Token token={self.token(context)}"})

    def headers(self) -> Mapping[str, str]:
        return API_HEADERS

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        source = self.source(context)
        lookback = context.first_run_seconds(self.config.initial_lookback)
        window = _Window.from_cursor(cursor, context.now, lookback)
        page = source.get(PATH, window.params(self.config))
        incidents = page_items(page.body, "incidents", f"GET {source.url(PATH)}", NAME)
        more = page.body.get("more")
        if not isinstance(more, bool):
            raise CollectorError(
                NAME, f"GET {source.url(PATH)}: 'more' is missing or not a boolean"
            )
        signals = convert_items(
            incidents,
            lambda incident: self._signal(incident, context),
            labeller("pagerduty:incident:"),
            context,
        )
        window.saw(incidents)
        if more and incidents:
            return FetchResult(
                signals, window.next_page(len(incidents), self.config.page_size), True
            )
        if window.until < window.end:  # a long first sweep: its next six months
            return FetchResult(signals, window.following(), True)
        return FetchResult(signals, window.finished(), more=False)

    def _signal(self, incident: Any, context: FetchContext) -> StoredSignal | None:
        incident_id = require(incident, "id", str)
        opened = instant(require(incident, "created_at", str), "created_at")
        status = require(incident, "status", str)
        severity = self._severity(incident)
        service_id = require(incident, "service.id", str)
        service = optional(incident, "service.summary", str) or service_id
        resolved = None
        if status == "resolved":
            moment = optional(incident, "resolved_at", str) or require(
                incident, "last_status_change_at", str
            )
            resolved = instant(moment, "resolved_at")
        client = context.clients.resolve(service_id)
        if client is None:
            return None
        return to_signal(
            {
                "kind": "incident",
                "event_id": f"pagerduty:incident:{incident_id}",
                "client": client,
                "severity": severity,
                "opened_at": opened,
                "recorded_at": opened,
                "resolved_at": resolved,
                "service": service[:200],
                "source": NAME,
            }
        )

    def _severity(self, incident: Any) -> str:
        priority = optional(incident, "priority.summary", str) or optional(
            incident, "priority.name", str
        )
        if priority is not None and priority in self.config.priority_severity:
            return self.config.priority_severity[priority]
        urgency = require(incident, "urgency", str)
        if urgency not in self.config.urgency_severity:
            raise ItemError(f"urgency {urgency!r} has no severity in urgency_severity")
        return self.config.urgency_severity[urgency]


_PAGE_KEYS = {"since", "until", "offset", "open"}


class _Window:
    """One sweep's position: the creation window, the page offset, and the oldest open incident."""

    def __init__(
        self,
        since: datetime,
        until: datetime,
        offset: int,
        open_since: str | None,
        end: datetime | None = None,
    ):
        self.since, self.until, self.offset, self.open_since = since, until, offset, open_since
        self.end = end or until  # where the sweep ends: past ``until`` in a long first sweep
        self.last_created: str | None = None

    @classmethod
    def from_cursor(cls, cursor: JsonValue, now: datetime, lookback: float) -> _Window:
        try:
            if cursor is None:
                since = now - timedelta(seconds=lookback)
                return cls(since, min(now, since + MAX_RANGE), 0, None, now)
            if isinstance(cursor, dict) and set(cursor) == {"next_since"}:
                since = max(datetime.fromisoformat(cursor["next_since"]), now - MAX_RANGE)
                return cls(since, now, 0, None)
            if isinstance(cursor, dict) and set(cursor) - {"end"} == _PAGE_KEYS:
                since, until = (datetime.fromisoformat(cursor[k]) for k in ("since", "until"))
                end = datetime.fromisoformat(cursor["end"]) if "end" in cursor else None
                return cls(since, until, int(cursor["offset"]), cursor["open"], end)
        except (TypeError, ValueError):
            pass
        raise BadCursorError(NAME, cursor)

    def params(self, config: PagerDutyConfig) -> dict[str, Any]:
        params: dict[str, Any] = {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "offset": self.offset,
            "limit": config.page_size,
            "sort_by": "created_at:asc",
            "time_zone": "UTC",
            "total": "false",
        }
        if config.service_ids:
            params["service_ids[]"] = list(config.service_ids)
        return params

    def saw(self, incidents: list[Any]) -> None:
        """Remember the oldest still-open incident and the last creation time on this page."""
        for incident in incidents:
            created = incident.get("created_at") if isinstance(incident, dict) else None
            if not isinstance(created, str):
                continue
            try:
                moment = instant(created, "created_at")
            except ItemError:
                continue
            self.last_created = moment.isoformat()
            if incident.get("status") != "resolved" and (
                self.open_since is None or moment < datetime.fromisoformat(self.open_since)
            ):
                self.open_since = moment.isoformat()

    def next_page(self, read: int, limit: int) -> dict[str, Any]:
        offset = self.offset + read
        since = self.since.isoformat()
        if offset + limit > OFFSET_CAP and self.last_created is not None:
            since, offset = self.last_created, 0  # slide the window instead of passing the cap
        return self._with_end(
            {
                "since": since,
                "until": self.until.isoformat(),
                "offset": offset,
                "open": self.open_since,
            }
        )

    def _with_end(self, cursor: dict[str, Any]) -> dict[str, Any]:
        return {**cursor, "end": self.end.isoformat()} if self.end > self.until else cursor

    def following(self) -> dict[str, Any]:
        """The next window of a first sweep longer than ``MAX_RANGE``: from this one's until."""
        until = min(self.end, self.until + MAX_RANGE)
        cursor = {"since": self.until.isoformat(), "until": until.isoformat(), "offset": 0}
        following = {**cursor, "open": self.open_since}
        return {**following, "end": self.end.isoformat()} if self.end > until else following

    def finished(self) -> dict[str, Any]:
        return {"next_since": self.open_since or self.until.isoformat()}
