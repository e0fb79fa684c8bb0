"""``pingcode``: PingCode work items with end dates (milestones, or any type you choose) →
``milestone`` signals.

Modelled on PingCode's open REST API reference, https://open.pingcode.com/ (read through the copy
of its 鉴权 (auth) and 项目管理 (project) pages kept at
https://github.com/brain-xai/pingcode_api/tree/main/docs/reference/openpingcode):

- 获取企业令牌 (enterprise token, OAuth2 client credentials):
  ``GET /v1/auth/token?grant_type=client_credentials&client_id=…&client_secret=…`` →
  ``{"access_token", "token_type": "Bearer", "expires_in"}``; the token is valid 30 days and is
  sent as ``Authorization: Bearer …``.
- 获取工作项列表 (list work items): ``GET /v1/project/work_items`` with ``project_ids`` (comma
  separated, at most 20), ``type_ids`` (at most 20; system types include 里程碑 *milestone*),
  ``updated_between`` (``"<from>,"`` = updated at or after a unix time), ``page_index`` (from 0) and
  ``page_size`` → ``{page_index, page_size, total, values: [work item]}``. A work item has ``id``,
  ``identifier`` (``SCR-1``), ``title``, ``type``, ``project`` {id, identifier, name},
  ``state`` {name, type}, ``end_at`` and ``completed_at`` (unix seconds or null), ``updated_at``,
  ``is_deleted`` (0/1).

What the reference leaves open, and what this connector assumes: ``expires_in`` is documented
with an example (1577808000) that reads as an absolute unix time although the name says seconds
— a value above 10^9 is taken as an absolute time, a smaller one as seconds from now; a work item
counts as delivered when its ``state.type`` is one of ``done_states`` (default ``completed``) and
``completed_at`` is set; a 401 on a data call means the cached token died (app secret reset) and
one fresh token is fetched before giving up.

- A work item with ``end_at`` → ``milestone``: due = ``end_at``; delivered = ``completed_at``
  (as above); name = ``identifier title``; project = the project's identifier.
  event_id ``pingcode:work_item:<id>``. Items without ``end_at`` promise nothing; deleted ones are
  left out.
- Incremental: a finished sweep saves its start time minus ``overlap``; the next sweep asks only
  for items updated since (re-reading one only updates it). One page per fetch; paging follows
  the reply's own ``page_index``/``page_size``/``total`` (a server may cap ``page_size`` below
  what was asked), and a sweep ends on an empty page or when the reply says it has no more.
- The first sweep (no cursor) reads every item, whatever ``backfill`` the runner sets: all history
  covers any window a scorecard reads.
- 获取工作项类型列表 (list work item types): ``GET /v1/project/work_item/types?project_id=…`` →
  ``{page_index, page_size, total, values: [{id, name, group}]}``. System types of scrum and
  kanban projects have word ids (``epic``, ``story``, ``bug``); others, and custom types, have
  hex ids, and the milestone type is named 里程碑. ``type_ids`` therefore accepts ids *or* names:
  each entry that is not an id of a configured project's types is looked up by name (``milestone``
  also means 里程碑, the example this docstring always gave); an entry matching neither is
  dropped with a warning in the run record, and when no entry resolves nothing is requested.
- Rate limits (概述 / 频率限制): 200 requests per user per minute; a 429 carries
  ``x-pc-retry-after``, "the number of seconds to wait before requesting again", which the
  transport waits (up to ``max_wait``).
- Client: the project identifier through the registry attribute ``pingcode_project``.
- Secrets: ``client_id`` is not secret; the client secret comes from ``token_env``/``token_file``.

Example ``collectors.yaml`` entry::

    plans:
      type: pingcode
      schedule: {interval: 1h}
      base_url: https://open.pingcode.com
      client_id: CVMTTGAwaYiz
      token_env: PINGCODE_CLIENT_SECRET
      project_ids: [5eb623f6a70571487ea47000]
      type_ids: [里程碑]            # type names or ids; omit for every work item with an end date
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
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
from rapport.signals.collectors.http import JsonResponse, WaitHeader
from rapport.signals.collectors.http_collector import (
    NO_CREDENTIALS,
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    Source,
    bearer,
)
from rapport.signals.collectors.items import (
    convert_items,
    instant,
    labeller,
    optional,
    page_items,
    require,
    to_signal,
)
from rapport.signals.model import StoredSignal

NAME = "pingcode"
TOKEN_PATH = "/v1/auth/token"
ITEMS_PATH = "/v1/project/work_items"
TYPES_PATH = "/v1/project/work_item/types"
#: English names this connector's docs used for system types, mapped to PingCode's own names
TYPE_ALIASES = {"milestone": "里程碑"}
_ABSOLUTE = 10**9  # an expires_in above this is a unix time, not a duration
_MARGIN = 60.0  # renew a token this many seconds before it expires


class PingCodeConfig(HttpSourceConfig):
    """``base_url`` is https://open.pingcode.com (or a private deployment's REST root)."""

    client_id: str = Field(min_length=1)
    project_ids: list[str] = Field(min_length=1, max_length=20)
    type_ids: list[str] = Field(default_factory=list, max_length=20)
    done_states: list[str] = Field(default_factory=lambda: ["completed"], min_length=1)
    overlap: Duration = 3600.0
    page_size: int = Field(default=100, ge=1, le=100)


class PingCodeCollector(
    HttpCollector[PingCodeConfig],
    name=NAME,
    kinds=("milestone",),
    client_attribute="pingcode_project",
):
    """Work items with end dates → ``milestone`` (see the module docstring)."""

    rate_limit_headers = (WaitHeader("x-pc-retry-after", "seconds", rate_limit_only=True),)

    def __init__(self, config: PingCodeConfig) -> None:
        super().__init__(config)
        self._token = CachedToken(TOKEN_PATH)
        self._resolved: list[str] | None = None  # type_ids as ids, once per collector instance

    def auth(self, context: FetchContext) -> Credentials:
        """OAuth2 client credentials: the enterprise token, obtained with the client id and
        secret and cached until shortly before it expires, sent as a bearer token."""
        return bearer(self._token.get(self, self.config.client_id, context))

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        since, sweep, index = sweep_position(cursor, context, NAME)
        params: dict[str, Any] = {
            "project_ids": ",".join(self.config.project_ids),
            "page_index": index,
            "page_size": self.config.page_size,
        }
        source = self.source(context)
        if self.config.type_ids:
            type_ids = self._type_ids(source, context)
            if not type_ids:
                return FetchResult([], following_sweep(sweep, self.config.overlap))
            params["type_ids"] = ",".join(type_ids)
        if since is not None:
            params["updated_between"] = f"{since},"
        page = self._items(params, context, source)
        where = f"GET {self.config.base_url}{ITEMS_PATH}"
        items = page_items(page.body, "values", where, NAME)
        signals = convert_items(
            items,
            lambda item: self._signal(item, context),
            labeller("pingcode:work_item:"),
            context,
        )
        reply_index, reply_size, total = page_position(page.body, where, index, len(items), NAME)
        if items and (reply_index + 1) * reply_size < total:
            return FetchResult(
                signals, {"since": since, "sweep": sweep, "page": reply_index + 1}, True
            )
        if total == 0 and self.config.type_ids and cursor is None:
            context.warn(f"type_ids {self.config.type_ids} matched no work items")
        return FetchResult(signals, following_sweep(sweep, self.config.overlap))

    def _type_ids(self, source: Source, context: FetchContext) -> list[str]:
        """``type_ids`` as PingCode ids: ids kept, names looked up through the types of every
        configured project; an entry matching neither is a warning (see the module docstring)."""
        if self._resolved is None:
            kinds: list[Any] = []
            for project in self.config.project_ids:
                body = source.get(TYPES_PATH, {"project_id": project}).body
                where = f"GET {self.config.base_url}{TYPES_PATH}"
                kinds += page_items(body, "values", where, NAME)
            self._resolved = resolve_types(
                self.config.type_ids, kinds, "work item", self.config.project_ids, context
            )
        return self._resolved

    def _items(self, params: dict[str, Any], context: FetchContext, source: Source) -> JsonResponse:
        """The work-items page, renewing the token once if PingCode says it is no longer valid."""
        page = source.get(ITEMS_PATH, params, accept_status=[401])
        if page.status != 401:
            return page
        self._token.forget()
        page = self.source(context).get(ITEMS_PATH, params, accept_status=[401])
        if page.status != 401:
            return page
        raise CollectorError(NAME, "PingCode refused a freshly issued token (HTTP 401)")

    def _signal(self, item: Any, context: FetchContext) -> StoredSignal | None:
        item_id = require(item, "id", str)
        identifier = require(item, "identifier", str)
        title = optional(item, "title", str) or ""
        project = require(item, "project.identifier", str)
        end_at = optional(item, "end_at", (int, float))
        completed_at = optional(item, "completed_at", (int, float))
        state = optional(item, "state.type", str)
        if end_at is None or optional(item, "is_deleted", int) == 1:
            return None
        done = completed_at is not None and state in self.config.done_states
        client = context.clients.resolve(project)
        if client is None:
            return None
        return to_signal(
            {
                "kind": "milestone",
                "event_id": f"pingcode:work_item:{item_id}",
                "client": client,
                "due": _due(end_at, context.clients.zones.get(client, UTC)),
                "recorded_at": (
                    None
                    if (made := optional(item, "created_at", (int, float))) is None
                    else instant(made, "created_at")
                ),
                "delivered_at": instant(completed_at, "completed_at") if done else None,
                "name": f"{identifier} {title}".strip()[:200],
                "project": project,
                "source": NAME,
            },
            context.clients.zones,
        )


def resolve_types(
    entries: list[str], kinds: list[Any], noun: str, projects: list[str], context: FetchContext
) -> list[str]:
    """``entries`` as type ids: an id of one of ``kinds`` (``{id, name}``) is kept, any other
    entry is looked up by name (``milestone`` also means 里程碑); one matching neither is dropped
    with a warning naming the ``projects`` searched."""
    known: dict[str, str] = {}  # id or folded name → id
    for kind in kinds:
        if isinstance(kind, dict) and isinstance(kind.get("id"), str):
            known.setdefault(kind["id"], kind["id"])
            if isinstance(kind.get("name"), str):
                known.setdefault(kind["name"].strip().casefold(), kind["id"])
    resolved: list[str] = []
    for entry in entries:
        name = TYPE_ALIASES.get(entry.strip().casefold(), entry).strip().casefold()
        found = known.get(entry) or known.get(name)
        if found is None:
            context.warn(
                f"type_ids entry {entry!r} is neither the id nor the name of a {noun} "
                f"type of projects {', '.join(projects)}"
            )
        elif found not in resolved:
            resolved.append(found)
    return resolved


class CachedToken:
    """A ``client_credentials_token`` from ``path``, kept until shortly before it expires (one
    per collector instance)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._cached: tuple[str, float] | None = None  # (token, expires at, unix time)

    def get(self, collector: HttpCollector[Any], client_id: str, context: FetchContext) -> str:
        now = context.now.timestamp()
        if self._cached is None or self._cached[1] - _MARGIN <= now:
            source = collector.source(context, NO_CREDENTIALS)
            self._cached = client_credentials_token(
                source, self._path, client_id, collector.token(context), now
            )
        return self._cached[0]

    def forget(self) -> None:
        """The source refused the token: the next ``get`` asks for a new one."""
        self._cached = None


def client_credentials_token(
    source: Source, path: str, client_id: str, secret: str, now: float
) -> tuple[str, float]:
    """(access token, expires at as a unix time) from ``GET path?grant_type=client_credentials``
    — PingCode's enterprise token and Worktile's tenant token are the same call. An
    ``expires_in`` above 10^9 is an absolute time (see the module docstring)."""
    params = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    body = source.get(path, params).body
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise CollectorError(
            source.collector, f"GET {source.url(path)}: no access_token in the answer"
        )
    lifetime = body.get("expires_in")
    lifetime = lifetime if isinstance(lifetime, int | float) else 0
    return token, float(lifetime) if lifetime > _ABSOLUTE else now + float(lifetime)


def sweep_position(
    cursor: JsonValue, context: FetchContext, collector: str
) -> tuple[int | None, int, int]:
    """(updated-since or None, this sweep's start, page index), all unix seconds, from a sweep
    cursor (``{since, sweep, page}``; None: the first run). Shared with ``worktile``."""
    now = int(context.now.timestamp())
    if cursor is None:
        return None, now, 0
    if isinstance(cursor, dict) and set(cursor) == {"since", "sweep", "page"}:
        since, sweep, page = cursor["since"], cursor["sweep"], cursor["page"]
        if (since is None or isinstance(since, int)) and isinstance(page, int):
            if isinstance(sweep, int) and page > 0:
                return since, sweep, page
            return since, now, 0
    raise BadCursorError(collector, cursor)


def following_sweep(sweep: int, overlap: float) -> dict[str, Any]:
    """The cursor after a finished sweep: updated since its start, minus the overlap."""
    return {"since": sweep - int(overlap), "sweep": None, "page": 0}


def page_position(
    body: Any, where: str, asked: int, read: int, collector: str
) -> tuple[int, int, int]:
    """(page_index, page_size, total) as the reply states them: a server may cap the page size
    below what was asked, so paging by our own size would stop early. A missing index or size
    falls back to the asked index and the items read; ``total`` is required."""
    total = body.get("total")
    if not isinstance(total, int):
        raise CollectorError(collector, f"{where}: 'total' is not a number")
    index, size = body.get("page_index"), body.get("page_size")
    index = index if isinstance(index, int) and index >= 0 else asked
    size = size if isinstance(size, int) and size > 0 else max(read, 1)
    return index, size, total


def _due(end_at: float, zone: tzinfo) -> datetime | date:
    """PingCode keeps an end date as 23:59:59 of that day in the team's zone: read in the client's
    zone, that is the day a PM there picked, due at its end (the next midnight, not 1 s before);
    any other time of day is an instant."""
    moment = instant(end_at, "end_at").astimezone(zone)
    return moment.date() if moment.time() == time(23, 59, 59) else moment
