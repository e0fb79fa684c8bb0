"""``github``: repository milestones → ``milestone`` signals.

Modelled on GitHub's REST API "List milestones", https://docs.github.com/rest/issues/milestones
(``GET /repos/{owner}/{repo}/milestones?state=all&per_page=100``, paginated through the ``Link``
header's ``rel="next"``; a milestone has ``id``, ``number``, ``title``, ``state`` open|closed,
``due_on``, ``closed_at``), and on "Rate limits for the REST API",
https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api (403 or 429 with
``retry-after``, or ``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset`` — honoured by
``signals.collectors.http``).

- The milestones endpoint has no "changed since" filter and a repository has few milestones, so
  every run walks every configured repository, one page per fetch. The cursor ``{"repo", "next"}``
  lets a run interrupted mid-way resume where it stopped; a finished run saves ``None`` so the
  next one starts over (re-reading is safe: event ids make it an update). A ``next`` link must be
  on ``base_url``.
- A milestone → ``milestone``: due = ``due_on``; delivered = ``closed_at`` when ``state`` is
  ``closed``; name = ``title``; project = ``owner/repo``. event_id ``github:milestone:<id>``.
  A milestone without ``due_on`` promises no date and makes no signal.
- Client: ``owner/repo`` through the registry attribute ``github_repo``.
- Auth: ``Authorization: Bearer <token>`` with the versioned ``Accept`` and API-version headers.

Example ``collectors.yaml`` entry::

    repos:
      type: github
      schedule: {interval: 1h}
      base_url: https://api.github.com
      token_file: secrets/github_token    # relative to collectors.yaml
      repos: [acme/portal, globex/site]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from rapport.signals.collectors.base import (
    BadCursorError,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http import same_origin
from rapport.signals.collectors.http_collector import (
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    bearer,
)
from rapport.signals.collectors.items import (
    ItemError,
    convert_items,
    instant,
    labeller,
    optional,
    require,
    to_signal,
)
from rapport.signals.model import StoredSignal

NAME = "github"
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
Repo = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]


class GithubConfig(HttpSourceConfig):
    """``base_url`` is https://api.github.com (or a GitHub Enterprise ``/api/v3`` root);
    ``repos`` the ``owner/name`` repositories to read."""

    repos: list[Repo] = Field(min_length=1)
    page_size: int = Field(default=100, ge=1, le=100)


class GithubCollector(
    HttpCollector[GithubConfig], name=NAME, kinds=("milestone",), client_attribute="github_repo"
):
    """Repository milestones → ``milestone`` (see the module docstring)."""

    def auth(self, context: FetchContext) -> Credentials:
        return bearer(self.token(context))

    def headers(self) -> Mapping[str, str]:
        return API_HEADERS

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        source = self.source(context)
        repo, next_url = self._position(cursor)
        if next_url is None:
            params = {"state": "all", "per_page": self.config.page_size}
            page = source.get(f"/repos/{repo}/milestones", params)
        else:
            page = source.get(next_url)
        if not isinstance(page.body, list):
            raise CollectorError(NAME, f"milestones of {repo}: expected a JSON array")
        signals = convert_items(
            page.body,
            lambda item: self._signal(item, repo, context),
            labeller(f"github:{repo}:milestone:", "number"),
            context,
        )
        return self._advance(repo, page.link("next"), signals)

    def _position(self, cursor: JsonValue) -> tuple[str, str | None]:
        """(repository, next-page URL or None) to read now."""
        if cursor is None:
            return self.config.repos[0], None
        if isinstance(cursor, dict) and isinstance(cursor.get("repo"), str):
            if cursor["repo"] not in self.config.repos:
                return self.config.repos[0], None  # the config changed: start over
            following = cursor.get("next")
            return cursor["repo"], following if isinstance(following, str) else None
        raise BadCursorError(NAME, cursor)

    def _advance(
        self, repo: str, following: str | None, signals: list[StoredSignal]
    ) -> FetchResult:
        if following is not None:
            if not same_origin(self.config.base_url, following):
                raise CollectorError(NAME, f"the next-page link of {repo} leaves base_url")
            return FetchResult(signals, {"repo": repo, "next": following}, more=True)
        position = self.config.repos.index(repo) + 1
        if position < len(self.config.repos):
            return FetchResult(signals, {"repo": self.config.repos[position], "next": None}, True)
        return FetchResult(signals, None, more=False)

    def _signal(self, item: Any, repo: str, context: FetchContext) -> StoredSignal | None:
        milestone_id = require(item, "id", int)
        title = require(item, "title", str)
        state = require(item, "state", str)
        if state not in ("open", "closed"):
            raise ItemError(f"field 'state' is {state!r}, expected 'open' or 'closed'")
        due = optional(item, "due_on", str)
        closed = optional(item, "closed_at", str)
        if due is None:
            return None  # no due date, no promise to keep
        delivered = instant(closed, "closed_at") if state == "closed" and closed else None
        client = context.clients.resolve(repo)
        if client is None:
            return None
        return to_signal(
            {
                "kind": "milestone",
                "event_id": f"github:milestone:{milestone_id}",
                "client": client,
                "due": instant(due, "due_on").date(),  # a day set in GitHub's UI, at a fixed hour
                "recorded_at": (
                    instant(made, "created_at")
                    if (made := optional(item, "created_at", str))
                    else None
                ),
                "delivered_at": delivered,
                "name": title[:200],
                "project": repo,
                "source": NAME,
            },
            context.clients.zones,
        )
