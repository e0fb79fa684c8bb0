"""``hubspot``: HubSpot CRM deals → ``outcome`` signals (a won renewal is ``renewed``, a lost one
``churned``), and per company the client's owner and next renewal date.

Modelled on HubSpot's CRM API v3 reference (https://developers.hubspot.com/docs/api/crm/):

- Auth: a private app's access token, ``Authorization: Bearer …``; scopes
  ``crm.objects.deals.read``, ``crm.objects.companies.read``, ``crm.objects.owners.read``. A 401
  answers ``{"status": "error", "category": "INVALID_AUTHENTICATION", "message", …}``, a 403
  ``"category": "MISSING_SCOPES"``; each becomes one line naming the fix.
- Lists: ``GET /crm/v3/objects/deals?limit=…&properties=…&associations=companies&after=…`` and
  ``GET /crm/v3/objects/companies?…`` → ``{"results": [{"id", "properties": {name: string},
  "createdAt", "updatedAt", "archived", "associations": {"companies": {"results": [{"id",
  "type"}]}}}], "paging": {"next": {"after", "link"}}}``; no ``paging.next`` on the last page.
  Every property value is a string (``"amount": "12000.5"``, ``"closedate":
  "2026-03-31T00:00:00Z"``) or null. ``GET /crm/v3/owners`` pages the same way; an owner has
  ``id``, ``email``, ``firstName``, ``lastName``.
- Rate limits: a 429 (``"errorType": "RATE_LIMIT"``, ``"policyName": "TEN_SECONDLY_ROLLING"``)
  with ``X-HubSpot-RateLimit-Interval-Milliseconds`` (the rolling window) and
  ``X-HubSpot-RateLimit-Remaining: 0``: the transport waits a ``Retry-After`` when one is sent,
  else that window.

One sweep is one page per fetch, deals first, then companies:

- A deal that matches an ``outcomes`` rule (``signals/collectors/crm.py``; the default maps
  ``dealtype: existingbusiness`` with ``dealstage: closedwon`` to ``renewed`` and ``closedlost`` to
  ``churned``) → ``outcome``: ts = its ``closedate``, value = ``amount`` (None when empty), deal =
  the deal id, client = its first associated company through the registry attribute
  ``hubspot_company`` (a deal without one counts as unmapped ``<none>``). event_id
  ``hubspot:deal:<id>``. A deal without a close date is skipped with its reason.
- A deal that matches ``renewals`` and ``open_deals`` (default ``hs_is_closed: "false"``, a
  property HubSpot computes) is an open renewal: the earliest close date among a client's open
  renewals (a day in the client's time zone) is its next renewal, carried in the cursor to the
  companies phase.
- Each company mapped to a client gives ``ClientFacts``: ``renewal_attribute`` (default
  ``renewal_date``) = that day, removed when no renewal is open, and the company's
  ``hubspot_owner_id`` as the client's owner (name and email), used where ``clients.yaml`` names
  no owner. The runner applies them to the registry.
- First sweep: outcomes closed within the history the first run reads (``backfill``, else a
  year: no shipped component reads outcomes, ``rapport validate`` does); later sweeps: deals
  updated (``updatedAt``) since the previous sweep's start minus ``overlap``. HubSpot's list
  endpoints take no "modified since" filter (its search endpoint does, but is a POST capped at
  10,000 results), so every sweep lists every deal — the next renewal needs every open one anyway.

Example ``collectors.yaml`` entry::

    crm:
      type: hubspot
      schedule: {interval: 6h}
      base_url: https://api.hubapi.com
      token_env: HUBSPOT_TOKEN             # the private app's access token
      outcomes:                            # optional: the default shown in crm.py's terms
        - when: {dealtype: existingbusiness, dealstage: closedwon}
          type: renewed
        - when: {dealtype: existingbusiness, dealstage: closedlost}
          type: churned
      renewals: {dealtype: existingbusiness}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from pydantic import Field, ValidationError

from rapport.engine.model import Duration
from rapport.signals.collectors.backfill import ALL_HISTORY
from rapport.signals.collectors.base import (
    BadCursorError,
    ClientFacts,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.crm import Match, OutcomeRule, matches, named_properties
from rapport.signals.collectors.crm import outcome_type as outcome_of
from rapport.signals.collectors.http import WaitHeader
from rapport.signals.collectors.http_collector import (
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    Source,
    bearer,
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
from rapport.signals.model import AttrName, Owner, StoredSignal

NAME = "hubspot"
OWNERS_PATH = "/crm/v3/owners"
COMPANIES_PATH = "/crm/v3/objects/companies"
DEALS_PATH = "/crm/v3/objects/deals"
SCOPES = "crm.objects.deals.read, crm.objects.companies.read and crm.objects.owners.read"
DEFAULT_OUTCOMES = (
    OutcomeRule(when={"dealtype": "existingbusiness", "dealstage": "closedwon"}, type="renewed"),
    OutcomeRule(when={"dealtype": "existingbusiness", "dealstage": "closedlost"}, type="churned"),
)
_MAX_OWNER_PAGES = 1000  # owners are a team, not a data set: more pages than this is a loop


def _match(**values: str) -> Match:
    return dict(values)


class HubSpotConfig(HttpSourceConfig):
    """``base_url`` is https://api.hubapi.com; ``token_env``/``token_file`` hold the private app's
    access token. The mapping fields are ``crm.py``'s."""

    outcomes: list[OutcomeRule] = Field(
        default_factory=lambda: list(DEFAULT_OUTCOMES), min_length=1
    )
    renewals: Match = Field(default_factory=lambda: _match(dealtype="existingbusiness"))
    open_deals: Match = Field(default_factory=lambda: _match(hs_is_closed="false"))
    close_date: str = Field(default="closedate", pattern=r"^[A-Za-z0-9_]+$")
    amount: str = Field(default="amount", pattern=r"^[A-Za-z0-9_]+$")
    renewal_attribute: AttrName = "renewal_date"
    overlap: Duration = 3600.0
    page_size: int = Field(default=100, ge=1, le=100)


@dataclass
class _Position:
    """Where a sweep is: its ``phase`` (deals, then companies), HubSpot's ``after`` token, the
    ``since`` of an incremental sweep, its start (``sweep``) and the renewals found so far."""

    phase: str
    after: str | None
    since: int | None
    sweep: int
    renewals: dict[str, str] = field(default_factory=dict)

    def cursor(self, **changes: Any) -> dict[str, Any]:
        state = {
            "phase": self.phase,
            "after": self.after,
            "since": self.since,
            "sweep": self.sweep,
            "renewals": self.renewals,
        }
        return {**state, **changes}


class HubSpotCollector(
    HttpCollector[HubSpotConfig],
    name=NAME,
    kinds=("outcome",),
    client_attribute="hubspot_company",
):
    """Deals → ``outcome``, companies → client facts (see the module docstring)."""

    rate_limit_headers = (
        WaitHeader(
            "x-hubspot-ratelimit-interval-milliseconds",
            "milliseconds",
            gate="x-hubspot-ratelimit-remaining",
            rate_limit_only=True,
        ),
    )

    def __init__(self, config: HubSpotConfig) -> None:
        super().__init__(config)
        self._owners: dict[str, Owner] | None = None  # owner id → owner, once per instance

    def auth(self, context: FetchContext) -> Credentials:
        """The private app's access token as a bearer token."""
        return bearer(self.token(context))

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        position = self._position(cursor, context)
        source = self.source(context)
        if position.phase == "deals":
            return self._deals(position, source, context)
        return self._companies(position, source, context)

    def _deals(self, position: _Position, source: Source, context: FetchContext) -> FetchResult:
        config = self.config
        wanted = named_properties(config.outcomes, config.renewals, config.open_deals)
        params = {
            "properties": ",".join(sorted(wanted | {config.close_date, config.amount})),
            "associations": "companies",
        }
        results, after = self._page(source, DEALS_PATH, params, position.after)
        cutoff = context.now.timestamp() - context.first_run_seconds(ALL_HISTORY)
        signals = convert_items(
            results,
            lambda deal: self._outcome(deal, position, cutoff, context),
            labeller("hubspot:deal:"),
            context,
        )
        if after is not None:
            return FetchResult(signals, position.cursor(after=after), more=True)
        return FetchResult(signals, position.cursor(phase="companies", after=None), more=True)

    def _companies(self, position: _Position, source: Source, context: FetchContext) -> FetchResult:
        owners = self._owner_map(source)
        params = {"properties": "name,hubspot_owner_id"}
        results, after = self._page(source, COMPANIES_PATH, params, position.after)
        label = labeller("hubspot:company:")
        facts: list[ClientFacts] = []
        strangers: list[str] = []  # companies no client maps: listed so a PM can map them
        for company in results:
            try:
                fact = self._facts(company, owners, position.renewals, context)
            except ItemError as bad:
                context.log_skip(label(company), bad.reason)
                continue
            if fact is None:
                name = optional(company, "properties.name", str)
                strangers.append(f"{company['id']} ({name})" if name else str(company["id"]))
            else:
                facts.append(fact)
        if strangers:
            listed = ", ".join(strangers[:10]) + (" …" if len(strangers) > 10 else "")
            context.warn(
                f"companies no client maps (set hubspot_company in clients.yaml): {listed}"
            )
        if after is not None:
            return FetchResult([], position.cursor(after=after), True, tuple(facts))
        done: dict[str, Any] = {"phase": "deals", "after": None, "sweep": None, "renewals": {}}
        since = position.sweep - int(self.config.overlap)
        return FetchResult([], position.cursor(**done, since=since), False, tuple(facts))

    def _outcome(
        self, deal: Any, position: _Position, cutoff: float, context: FetchContext
    ) -> StoredSignal | None:
        """A closed renewal's ``outcome``; an open renewal only updates ``position.renewals``."""
        deal_id = require(deal, "id", str)
        properties = require(deal, "properties", dict)
        kind = outcome_of(self.config.outcomes, properties)
        renewing = matches(self.config.renewals, properties) and matches(
            self.config.open_deals, properties
        )
        if kind is None and not renewing:
            return None  # neither an outcome nor a renewal: nothing this connector reads
        if kind is None and not optional(properties, self.config.close_date, str):
            return None  # an open renewal with no close date yet says no date
        closes = instant(require(properties, self.config.close_date, str), self.config.close_date)
        client = context.clients.resolve(_company_of(deal) or "<none>")
        if client is None:
            return None
        if kind is None:
            zone = context.clients.zones.get(client, UTC)
            day = closes.astimezone(zone).date().isoformat()
            known = position.renewals.get(client)
            position.renewals[client] = day if known is None else min(known, day)
            return None
        if position.since is None:
            if closes.timestamp() < cutoff:
                return None  # older than the first run reads
        elif instant(require(deal, "updatedAt", str), "updatedAt").timestamp() < position.since:
            return None  # unchanged since the previous sweep stored it
        return to_signal(
            {
                "kind": "outcome",
                "event_id": f"hubspot:deal:{deal_id}",
                "client": client,
                "ts": closes,
                "recorded_at": closes,  # an outcome is known once the deal closes
                "type": kind,
                "value": _amount(properties.get(self.config.amount), self.config.amount),
                "deal": deal_id,
                "source": NAME,
            }
        )

    def _facts(
        self, company: Any, owners: dict[str, Owner], renewals: dict[str, str],
        context: FetchContext,
    ) -> ClientFacts | None:  # fmt: skip
        company_id = require(company, "id", str)
        client = context.clients.resolve(company_id)
        if client is None:
            return None
        owner_id = optional(company, "properties.hubspot_owner_id", str)
        owner = owners.get(owner_id) if owner_id else None
        attribute = self.config.renewal_attribute
        renewal = renewals.get(client)
        if renewal is None:
            return ClientFacts(client, cleared=(attribute,), owner=owner)
        return ClientFacts(client, attrs={attribute: renewal}, owner=owner)

    def _owner_map(self, source: Source) -> dict[str, Owner]:
        """Every owner (id → name and email), read once per collector instance."""
        if self._owners is None:
            owners: dict[str, Owner] = {}
            after: str | None = None
            for _ in range(_MAX_OWNER_PAGES):
                results, after = self._page(source, OWNERS_PATH, {}, after)
                for entry in results:
                    found = _owner(entry)
                    if found is not None:
                        owners[str(entry["id"])] = found
                if after is None:
                    break
            else:
                raise CollectorError(NAME, f"GET {source.url(OWNERS_PATH)}: paging never ends")
            self._owners = owners
        return self._owners

    def _page(
        self, source: Source, path: str, params: dict[str, str], after: str | None
    ) -> tuple[list[Any], str | None]:
        """One list page: its ``results`` and ``paging.next.after`` (None on the last page)."""
        query: dict[str, Any] = {**params, "limit": self.config.page_size, "archived": "false"}
        if after is not None:
            query["after"] = after
        page = source.get(path, query, accept_status=[401, 403])
        where = f"GET {source.url(path)}"
        if page.status in (401, 403):
            raise CollectorError(NAME, _refusal(page.status, page.body, where, self.config))
        results = page_items(page.body, "results", where, NAME)
        paging = page.body.get("paging")
        following = paging.get("next") if isinstance(paging, dict) else None
        token = following.get("after") if isinstance(following, dict) else None
        return results, token if isinstance(token, str) and token else None

    def _position(self, cursor: JsonValue, context: FetchContext) -> _Position:
        now = int(context.now.timestamp())
        if cursor is None:
            return _Position("deals", None, None, now)
        keys = {"phase", "after", "since", "sweep", "renewals"}
        if isinstance(cursor, dict) and set(cursor) == keys:
            phase, after, since = cursor["phase"], cursor["after"], cursor["since"]
            sweep, renewals = cursor["sweep"], cursor["renewals"]
            if (
                phase in ("deals", "companies")
                and (after is None or isinstance(after, str))
                and (since is None or isinstance(since, int))
                and (sweep is None or isinstance(sweep, int))
                and isinstance(renewals, dict)
            ):
                started = sweep if isinstance(sweep, int) else now
                return _Position(phase, after, since, started, dict(renewals))
        raise BadCursorError(NAME, cursor)


def _company_of(deal: Any) -> str | None:
    """The deal's primary associated company (``deal_to_company``), else its first one."""
    links = optional(deal, "associations.companies.results", list) or []
    ids = [(str(link.get("type")), link.get("id")) for link in links if isinstance(link, dict)]
    ids = [(kind, ident) for kind, ident in ids if isinstance(ident, str | int)]
    primary = [ident for kind, ident in ids if kind == "deal_to_company"]
    chosen = primary[0] if primary else (ids[0][1] if ids else None)
    return None if chosen is None else str(chosen)


def _amount(value: object, name: str) -> float | None:
    """A HubSpot number property (a string, or null/empty when not set) as a float."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or isinstance(value, bool):
        raise ItemError(f"field 'properties.{name}' is not a number: {str(value)[:40]!r}")
    return number


def _owner(entry: Any) -> Owner | None:
    """An owner record as the PM to alert; one without a usable email is no owner."""
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str | int):
        return None
    email = entry.get("email")
    names = [entry.get("firstName"), entry.get("lastName")]
    name = " ".join(n.strip() for n in names if isinstance(n, str) and n.strip())
    try:
        return Owner(name=(name or str(email))[:200], email=str(email))
    except ValidationError:
        return None


def _refusal(status: int, body: Any, where: str, config: HubSpotConfig) -> str:
    """The one line for a refused token (401) or missing scopes (403)."""
    category = body.get("category") if isinstance(body, dict) else None
    label = f"HTTP {status}{f' {category}' if isinstance(category, str) else ''}"
    secret = (
        f"token_env {config.token_env}" if config.token_env else f"token_file {config.token_file}"
    )
    if status == 401:
        return (
            f"{where}: HubSpot refused the private app token ({label}): put the app's current "
            f"access token in {secret}"
        )
    return f"{where}: HubSpot denied access ({label}): give the private app the scopes {SCOPES}"
