"""``jira``: project versions or issues with due dates → ``milestone`` signals.

Modelled on the Jira Cloud platform REST API v3:

- "Get project versions paginated",
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-versions/
  (``GET /rest/api/3/project/{key}/version?startAt=&maxResults=&orderBy=sequence`` → a page bean
  ``{startAt, maxResults, total, isLast, values: [{id, name, archived, released, releaseDate
  "YYYY-MM-DD", userReleaseDate "6/Jul/2010", overdue, projectId}]}``);
- "Search for issues using JQL enhanced search (GET)",
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/
  (``GET /rest/api/3/search/jql?jql=&fields=&maxResults=&nextPageToken=`` →
  ``{issues: [{id, key, fields: {…}}], nextPageToken, isLast}``; the token is absent on the
  last page).

``source: versions`` (default): each run reads every version of every configured project, one page
per fetch (a project has few versions and they carry no "changed since" filter). A version with a
``releaseDate`` → milestone due at the end of that day; a *released* version counts as delivered on
its release date. Jira keeps a single date per version — the one set when it is released — so a
released version never shows as late; an unreleased one past its date shows as missed, which is the
signal that matters. Archived versions are left out unless ``include_archived``.
event_id ``jira:version:<id>``; name = version name; project = project key.

``source: issues``: issues of the configured projects with ``duedate is not EMPTY`` (plus any
extra ``jql`` clause) → milestone due at the end of ``duedate``, delivered at ``resolutiondate``.
Incremental: a finished sweep saves its start time minus ``overlap`` and the next sweep asks only
for ``updated >= "yyyy/MM/dd HH:mm"``. JQL reads that time in the API user's time zone, so the
default overlap of one day covers any zone; re-reading an issue only updates it.
event_id ``jira:issue:<id>`` (the id survives a move between projects; the key does not).

Client: the project key through the registry attribute ``jira_project``. Auth: with ``email``,
HTTP basic email : API token (Jira Cloud); without, ``Authorization: Bearer`` (a Data Center
personal access token). Rate limits (429 + Retry-After) are honoured by ``signals.collectors.http``.

Example ``collectors.yaml`` entries::

    releases:
      type: jira
      schedule: {interval: 1h}
      base_url: https://acme.atlassian.net
      email: pm@acme.example
      token_env: JIRA_TOKEN
      projects: [ACME, GLOBEX]
    due-dates:
      type: jira
      schedule: {interval: 30m}
      base_url: https://acme.atlassian.net
      email: pm@acme.example
      token_env: JIRA_TOKEN
      projects: [ACME]
      source: issues
      jql: issuetype = Milestone     # optional extra clause
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BadCursorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http_collector import (
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    Source,
    basic,
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
from rapport.signals.model import StoredSignal

NAME = "jira"
SEARCH = "/rest/api/3/search/jql"
ProjectKey = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class JiraConfig(HttpSourceConfig):
    """``base_url`` is the site (https://acme.atlassian.net); ``projects`` the project keys."""

    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    projects: list[ProjectKey] = Field(min_length=1)
    source: Literal["versions", "issues"] = "versions"
    include_archived: bool = False
    jql: str | None = Field(default=None, min_length=1)
    overlap: Duration = 86400.0
    page_size: int = Field(default=50, ge=1, le=100)


class JiraCollector(
    HttpCollector[JiraConfig], name=NAME, kinds=("milestone",), client_attribute="jira_project"
):
    """Versions or due-dated issues → ``milestone`` (see the module docstring)."""

    def auth(self, context: FetchContext) -> Credentials:
        """Basic email : API token (Jira Cloud); a bearer personal access token without email."""
        if self.config.email:
            return basic(self.config.email, self.token(context))
        return bearer(self.token(context))

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        source = self.source(context)
        if self.config.source == "versions":
            return self._versions(source, cursor, context)
        return self._issues(source, cursor, context)

    # --- versions ---------------------------------------------------------------------------

    def _versions(self, source: Source, cursor: JsonValue, context: FetchContext) -> FetchResult:
        project, start_at = self._version_position(cursor)
        path = f"/rest/api/3/project/{project}/version"
        params = {"startAt": start_at, "maxResults": self.config.page_size, "orderBy": "sequence"}
        page = source.get(path, params)
        values = page_items(page.body, "values", f"GET {source.url(path)}", NAME)
        signals = convert_items(
            values,
            lambda version: self._version(version, project, context),
            labeller(f"jira:{project}:version:"),
            context,
        )
        if page.body.get("isLast") is False and values:
            return FetchResult(
                signals, {"project": project, "start_at": start_at + len(values)}, True
            )
        position = self.config.projects.index(project) + 1
        if position < len(self.config.projects):
            following = {"project": self.config.projects[position], "start_at": 0}
            return FetchResult(signals, following, more=True)
        return FetchResult(signals, None, more=False)

    def _version_position(self, cursor: JsonValue) -> tuple[str, int]:
        if cursor is None:
            return self.config.projects[0], 0
        if isinstance(cursor, dict) and isinstance(cursor.get("start_at"), int):
            project = cursor.get("project")
            if project in self.config.projects:
                return str(project), int(cursor["start_at"])
            return self.config.projects[0], 0  # the config changed: start over
        raise BadCursorError(NAME, cursor)

    def _version(self, version: Any, project: str, context: FetchContext) -> StoredSignal | None:
        version_id = require(version, "id", str)
        name = require(version, "name", str)
        released = optional(version, "released", bool) or False
        archived = optional(version, "archived", bool) or False
        due = _release_day(version)
        if due is None or (archived and not self.config.include_archived):
            return None
        client = context.clients.resolve(project)
        if client is None:
            return None
        return to_signal(
            {
                "kind": "milestone",
                "event_id": f"jira:version:{version_id}",
                "client": client,
                "due": due,
                "delivered_at": due if released else None,
                "name": name[:200],
                "project": project,
                "source": NAME,
            },
            context.clients.zones,
        )

    # --- issues -----------------------------------------------------------------------------

    def _issues(self, source: Source, cursor: JsonValue, context: FetchContext) -> FetchResult:
        since, sweep, token = self._issue_position(cursor, context)
        params: dict[str, Any] = {
            "jql": self._jql(since),
            "fields": "summary,duedate,resolutiondate,project",
            "maxResults": self.config.page_size,
        }
        if token:
            params["nextPageToken"] = token
        page = source.get(SEARCH, params)
        issues = page_items(page.body, "issues", f"GET {source.url(SEARCH)}", NAME)
        signals = convert_items(
            issues, lambda issue: self._issue(issue, context), labeller("jira:issue:"), context
        )
        following = page.body.get("nextPageToken")
        if isinstance(following, str) and following and page.body.get("isLast") is not True:
            return FetchResult(signals, {"since": since, "sweep": sweep, "token": following}, True)
        start = datetime.fromisoformat(sweep) - timedelta(seconds=self.config.overlap)
        return FetchResult(signals, {"since": start.isoformat(), "sweep": None, "token": None})

    def _issue_position(
        self, cursor: JsonValue, context: FetchContext
    ) -> tuple[str | None, str, str | None]:
        """(updated-since or None, this sweep's start, next-page token or None)."""
        if cursor is None:
            return None, context.now.isoformat(), None
        if isinstance(cursor, dict) and set(cursor) == {"since", "sweep", "token"}:
            since, sweep, token = cursor["since"], cursor["sweep"], cursor["token"]
            if (
                _is_time(since)
                and isinstance(token, str)
                and isinstance(sweep, str)
                and _is_time(sweep)
            ):
                return since, sweep, token
            if _is_time(since) and token is None:
                return since, context.now.isoformat(), None
        raise BadCursorError(NAME, cursor)

    def _jql(self, since: str | None) -> str:
        projects = ", ".join(f'"{key}"' for key in self.config.projects)
        clauses = [f"project in ({projects})", "duedate is not EMPTY"]
        if since:
            moment = datetime.fromisoformat(since).astimezone(UTC)
            clauses.append(f'updated >= "{moment:%Y/%m/%d %H:%M}"')
        if self.config.jql:
            clauses.append(f"({self.config.jql})")
        return " AND ".join(clauses)

    def _issue(self, issue: Any, context: FetchContext) -> StoredSignal | None:
        issue_id = require(issue, "id", str)
        key = require(issue, "key", str)
        due = require(issue, "fields.duedate", str)
        if not _DAY.match(due):
            raise ItemError(f"field 'fields.duedate' is {due!r}, expected YYYY-MM-DD")
        resolved = optional(issue, "fields.resolutiondate", str)
        summary = optional(issue, "fields.summary", str) or ""
        project = require(issue, "fields.project.key", str)
        client = context.clients.resolve(project)
        if client is None:
            return None
        return to_signal(
            {
                "kind": "milestone",
                "event_id": f"jira:issue:{issue_id}",
                "client": client,
                "due": due,
                "recorded_at": (
                    instant(made, "fields.created")
                    if (made := optional(issue, "fields.created", str))
                    else None
                ),
                "delivered_at": instant(resolved, "fields.resolutiondate") if resolved else None,
                "name": f"{key} {summary}".strip()[:200],
                "project": project,
                "source": NAME,
            },
            context.clients.zones,
        )


def _release_day(version: Any) -> str | None:
    """``releaseDate`` (YYYY-MM-DD), else ``userReleaseDate`` in Jira's ``6/Jul/2010`` form."""
    day = optional(version, "releaseDate", str)
    if day is not None:
        if not _DAY.match(day):
            raise ItemError(f"field 'releaseDate' is {day!r}, expected YYYY-MM-DD")
        return day
    shown = optional(version, "userReleaseDate", str)
    if shown is None:
        return None
    try:
        return datetime.strptime(shown, "%d/%b/%Y").date().isoformat()
    except ValueError:
        raise ItemError(f"field 'userReleaseDate' is {shown!r}, expected like 6/Jul/2010") from None


def _is_time(value: Any) -> bool:
    """None (no lower bound yet) or an ISO 8601 time this collector wrote."""
    if value is None:
        return True
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True
