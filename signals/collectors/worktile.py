"""``worktile``: Worktile milestones (the milestone task type, found by name) → ``milestone``
signals, due and done in the project's time zone.

Modelled on Worktile's OpenAPI (https://open.worktile.com, the 团队鉴权 Tenant section of its
reference, https://apifox.com/apidoc/docs-site/3131222): a team app's *tenant access token*, then
the 项目 (mission) endpoints. The reference's page bodies could not be read here (only its table
of contents), so the shapes below are those of PingCode's open API — Worktile's sibling from the
same vendor, whose reference was read (``pingcode.py``) — under Worktile's paths, and each is an
assumption a deployment can check against its own answers:

- tenant-access-token: ``GET /v1/auth/token?grant_type=client_credentials&client_id=…&
  client_secret=…`` → ``{"access_token", "token_type": "Bearer", "expires_in"}``, sent as
  ``Authorization: Bearer …`` (``expires_in`` read as PingCode's is: above 10^9 a unix time).
- 获取项目任务类型列表: ``GET /v1/mission/projects/{project_id}/task_types`` →
  ``{page_index, page_size, total, values: [{id, name}]}``; the milestone type is named 里程碑.
- tasks: ``GET /v1/mission/tasks`` with ``project_ids`` and ``type_ids`` (comma separated),
  ``updated_between`` (``"<from>,"``), ``page_index`` (from 0), ``page_size`` (at most 100) →
  ``{page_index, page_size, total, values: [task]}``. A task has ``id``, ``identifier``
  (``WEB-12``), ``title``, ``project`` {id, identifier, name}, ``state`` {name, type},
  ``due`` {``date``: unix seconds, ``with_time``: 0 for a day, 1 for a time of day},
  ``completed_at`` (unix seconds or null), ``created_at``, ``updated_at``, ``is_deleted``.
- errors: a non-2xx answer with ``{"code", "message"}``; 401 when the token is wrong or expired;
  429 with ``Retry-After`` or PingCode's ``x-pc-retry-after`` (seconds).

- A milestone task with a ``due`` → ``milestone``: due = ``due.date`` — with ``with_time: 0`` the
  *day* it falls on in the project's time zone (``timezone``, else the client's time zone from
  ``clients.yaml``), due at the end of that day there; with ``with_time: 1`` that instant;
  delivered = ``completed_at`` when ``state.type`` is one of ``done_states``; name =
  ``identifier title``; project = the project's identifier. event_id ``worktile:task:<id>``.
  Tasks without a due date promise nothing; deleted ones are left out.
- ``type_ids`` takes type names or ids (default ``[milestone]``, which also means 里程碑), looked
  up through each configured project's task types; an entry matching none is a warning.
- Incremental as ``pingcode``: the first sweep reads every task of the types (all history: any
  scorecard window), later sweeps ask for tasks updated since the last sweep's start minus
  ``overlap``; paging follows the reply's ``page_index``/``page_size``/``total``; a 401 on a data
  call fetches one fresh token before giving up with one line.
- Client: the project identifier through the registry attribute ``worktile_project``.
- Secrets: ``client_id`` is not secret; the client secret comes from ``token_env``/``token_file``.

Example ``collectors.yaml`` entry::

    delivery:
      type: worktile
      schedule: {interval: 1h}
      base_url: https://open.worktile.com     # or a private deployment's OpenAPI root
      client_id: 2b4ddbd6f5264342
      token_env: WORKTILE_CLIENT_SECRET
      project_ids: [5f6b1c2d3e4f5a6b7c8d9e0f]
      timezone: Asia/Shanghai                 # where due days are picked (default: the client's)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http import JsonResponse, WaitHeader
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
from rapport.signals.collectors.pingcode import (
    CachedToken,
    following_sweep,
    page_position,
    resolve_types,
    sweep_position,
)
from rapport.signals.model import StoredSignal, TimeZoneName

NAME = "worktile"
TOKEN_PATH = "/v1/auth/token"
TASKS_PATH = "/v1/mission/tasks"
TYPES_PATH = "/v1/mission/projects/{project_id}/task_types"


class WorktileConfig(HttpSourceConfig):
    """``base_url`` is https://open.worktile.com (or a private deployment's OpenAPI root)."""

    client_id: str = Field(min_length=1)
    project_ids: list[str] = Field(min_length=1, max_length=20)
    type_ids: list[str] = Field(default_factory=lambda: ["milestone"], min_length=1, max_length=20)
    done_states: list[str] = Field(default_factory=lambda: ["completed"], min_length=1)
    timezone: TimeZoneName | None = None
    overlap: Duration = 3600.0
    page_size: int = Field(default=100, ge=1, le=100)


class WorktileCollector(
    HttpCollector[WorktileConfig],
    name=NAME,
    kinds=("milestone",),
    client_attribute="worktile_project",
):
    """Milestone tasks → ``milestone`` (see the module docstring)."""

    rate_limit_headers = (WaitHeader("x-pc-retry-after", "seconds", rate_limit_only=True),)

    def __init__(self, config: WorktileConfig) -> None:
        super().__init__(config)
        self._token = CachedToken(TOKEN_PATH)
        self._resolved: list[str] | None = None  # type_ids as ids, once per collector instance

    def auth(self, context: FetchContext) -> Credentials:
        """The tenant access token, cached until shortly before it expires."""
        return bearer(self._token.get(self, self.config.client_id, context))

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        since, sweep, index = sweep_position(cursor, context, NAME)
        source = self.source(context)
        type_ids = self._type_ids(source, context)
        if not type_ids:
            return FetchResult([], following_sweep(sweep, self.config.overlap))
        params: dict[str, Any] = {
            "project_ids": ",".join(self.config.project_ids),
            "type_ids": ",".join(type_ids),
            "page_index": index,
            "page_size": self.config.page_size,
        }
        if since is not None:
            params["updated_between"] = f"{since},"
        page = self._tasks(params, context, source)
        where = f"GET {self.config.base_url}{TASKS_PATH}"
        tasks = page_items(page.body, "values", where, NAME)
        signals = convert_items(
            tasks, lambda task: self._signal(task, context), labeller("worktile:task:"), context
        )
        reply_index, reply_size, total = page_position(page.body, where, index, len(tasks), NAME)
        if tasks and (reply_index + 1) * reply_size < total:
            return FetchResult(
                signals, {"since": since, "sweep": sweep, "page": reply_index + 1}, True
            )
        if total == 0 and cursor is None:
            context.warn(f"type_ids {self.config.type_ids} matched no tasks")
        return FetchResult(signals, following_sweep(sweep, self.config.overlap))

    def _type_ids(self, source: Source, context: FetchContext) -> list[str]:
        """``type_ids`` as Worktile ids, resolved once per collector instance."""
        if self._resolved is None:
            kinds: list[Any] = []
            for project in self.config.project_ids:
                path = TYPES_PATH.format(project_id=project)
                where = f"GET {self.config.base_url}{path}"
                kinds += page_items(source.get(path).body, "values", where, NAME)
            self._resolved = resolve_types(
                self.config.type_ids, kinds, "task", self.config.project_ids, context
            )
        return self._resolved

    def _tasks(self, params: dict[str, Any], context: FetchContext, source: Source) -> JsonResponse:
        """The tasks page, with one fresh token if Worktile says the cached one is no longer
        valid; a second refusal is one line naming the fix."""
        page = source.get(TASKS_PATH, params, accept_status=[401])
        if page.status == 401:
            self._token.forget()
            page = self.source(context).get(TASKS_PATH, params, accept_status=[401])
        if page.status == 401:
            raise CollectorError(
                NAME,
                "Worktile refused a freshly issued tenant token (HTTP 401): check that the app "
                f"{self.config.client_id!r} is enabled for the team and may read projects",
            )
        return page

    def _signal(self, task: Any, context: FetchContext) -> StoredSignal | None:
        task_id = require(task, "id", str)
        identifier = require(task, "identifier", str)
        title = optional(task, "title", str) or ""
        project = require(task, "project.identifier", str)
        due = optional(task, "due", dict)
        if due is None or optional(task, "due.date", (int, float)) is None:
            return None  # no due date: nothing was promised
        if optional(task, "is_deleted", int) == 1:
            return None
        client = context.clients.resolve(project)
        if client is None:
            return None
        zone = self._zone(context.clients.zones.get(client, UTC))
        completed_at = optional(task, "completed_at", (int, float))
        done = completed_at is not None and optional(task, "state.type", str) in (
            self.config.done_states
        )
        made = optional(task, "created_at", (int, float))
        return to_signal(
            {
                "kind": "milestone",
                "event_id": f"worktile:task:{task_id}",
                "client": client,
                "due": _due(require(task, "due.date", (int, float)), due.get("with_time"), zone),
                "recorded_at": None if made is None else instant(made, "created_at"),
                "delivered_at": instant(completed_at, "completed_at") if done else None,
                "name": f"{identifier} {title}".strip()[:200],
                "project": project,
                "source": NAME,
            },
            context.clients.zones,
        )

    def _zone(self, client_zone: tzinfo) -> tzinfo:
        return ZoneInfo(self.config.timezone) if self.config.timezone else client_zone


def _due(moment: float, with_time: object, zone: tzinfo) -> datetime | date:
    """A day-only due date (``with_time`` 0) is the day ``moment`` falls on in ``zone`` (a bare
    date, due at the end of that day in the client's zone); otherwise the instant itself."""
    if with_time not in (0, 1, False, True, None):
        raise ItemError(f"field 'due.with_time' is {with_time!r}, expected 0 or 1")
    when = instant(moment, "due.date")
    return when if with_time else when.astimezone(zone).date()
