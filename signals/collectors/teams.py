"""``teams``: reply times in Microsoft Teams channels shared with a client → ``response_time``.

Modelled on Microsoft Graph v1.0:

- ``GET /v1.0/teams/{team-id}/channels/{channel-id}/messages?$top=50``
  (https://learn.microsoft.com/graph/api/channel-list-messages): the channel's top-level
  ``chatMessage``s, without replies, in pages of at most 50 followed by ``@odata.nextLink``; the
  list has no date filter, so every page is read and messages created before the read window
  are dropped here;
- ``GET …/messages/{message-id}/replies?$top=50``
  (https://learn.microsoft.com/graph/api/chatmessage-list-replies), same paging;
- a ``chatMessage`` has ``id``, ``createdDateTime``, ``messageType`` (``message``; system events
  such as ``systemEventMessage`` are ignored), ``deletedDateTime`` (deleted ones are ignored) and
  ``from``: ``{user: {id, displayName, tenantId}}`` for a person, ``{application: {...}}`` for a
  bot or connector;
- throttling (https://learn.microsoft.com/graph/throttling): 429 — and 503 — with
  ``Retry-After`` seconds, which the transport waits (up to ``max_wait``);
- app-only auth (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
  ``POST {login_url}/{tenant_id}/oauth2/v2.0/token`` with ``grant_type=client_credentials``,
  ``client_id``, ``client_secret`` (from ``token_env`` / ``token_file``, sent in the form body)
  and ``scope`` (``https://graph.microsoft.com/.default``) → ``{access_token, expires_in}``; one
  token per run. A refused secret or client id (``invalid_client``, ``unauthorized_client``…)
  is one clear line. The application needs ``ChannelMessage.Read.All``.

Sides: a message from an ``application`` (or without a user) is a bot's; a user id listed in
``client_users`` is the client's; otherwise the user's ``tenantId`` decides: ``tenant_id`` (ours)
is our side, any other tenant — the client's own, a guest's home tenant — is the client's. A
message without ``id``, ``createdDateTime`` or a user's ``tenantId`` is skipped with its reason.

``channels`` are ``<team id>/<channel id>``; the client is the channel id through the registry
attribute ``teams_channel``.

Example ``collectors.yaml`` entry::

    teams:
      type: teams
      schedule: {interval: 15m}
      base_url: https://graph.microsoft.com
      tenant_id: 2f0c4a1e-0000-4000-8000-00000000a11e      # ours
      client_id: 6731de76-14a6-49ae-97bc-6eba6914391e      # the app registration
      token_file: secrets/teams_client_secret
      channels:                                           # <team id>/<channel id>
        - fbe2bf47-16c8-47cf-b4a5-4b9b187c508b/19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field, field_validator

from rapport.signals.collectors.base import CollectorError, FetchContext
from rapport.signals.collectors.chat import ChannelState, ChatMessage, Side
from rapport.signals.collectors.chat_source import ChatCollector, ChatSourceConfig
from rapport.signals.collectors.http import redact, request
from rapport.signals.collectors.http_collector import Credentials, Source, bearer, http_origin
from rapport.signals.collectors.items import (
    ItemError,
    instant,
    labeller,
    optional,
    page_items,
    require,
)

NAME = "teams"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MAX_PAGES = 10_000  # a nextLink chain longer than this is a loop, not a channel


class TeamsConfig(ChatSourceConfig):
    """``base_url`` is https://graph.microsoft.com; ``login_url`` the identity platform's origin
    (https://login.microsoftonline.com, or a national cloud's); ``tenant_id`` is ours."""

    tenant_id: str = Field(pattern=r"^[A-Za-z0-9.-]+$")
    client_id: str = Field(min_length=1)
    login_url: str = "https://login.microsoftonline.com"
    scope: str = GRAPH_SCOPE
    page_size: int = Field(default=50, ge=1, le=50)

    @field_validator("channels")
    @classmethod
    def _team_and_channel(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for channel in value:
            team, _, channel_id = channel.partition("/")
            if not team or not channel_id:
                raise ValueError(f"{channel!r}: expected <team id>/<channel id>")
        return value

    @field_validator("login_url")
    @classmethod
    def _login_origin(cls, value: str) -> str:
        return http_origin(value)


class TeamsCollector(
    ChatCollector[TeamsConfig],
    name=NAME,
    kinds=("response_time",),
    client_attribute="teams_channel",
):
    """Teams channel messages → reply times (see the module docstring)."""

    def auth(self, context: FetchContext) -> Credentials:
        return bearer(self._access_token(context))

    def client_key(self, channel: str) -> str:
        return channel.partition("/")[2]

    def _access_token(self, context: FetchContext) -> str:
        config = self.config
        url = f"{config.login_url}/{config.tenant_id}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": self.token(context),
            "scope": config.scope,
        }
        answer = request(
            context.http, "POST", url, data=form, retries=config.retries,
            backoff=config.backoff, max_wait=config.max_wait, timeout=config.timeout,
            sleep=context.sleep, accept_status=(400, 401), collector=NAME,
            deadline=config.deadline,
        )  # fmt: skip
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status in (400, 401):
            error = str(body.get("error") or f"HTTP {answer.status}")[:60]
            # the description's first line; the rest is trace and correlation ids
            detail = (str(body.get("error_description") or "").splitlines() or [""])[0]
            raise CollectorError(
                NAME,
                f"the identity platform refused the app's credentials ({error}"
                f"{': ' + detail[:160] if detail else ''}): check client_id, tenant_id and the "
                "secret in token_env/token_file",
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise CollectorError(NAME, f"POST {redact(url)}: no access_token in the answer")
        return token

    def read_channel(
        self, source: Source, channel: str, since: datetime, state: ChannelState
    ) -> list[ChatMessage]:
        team, _, channel_id = channel.partition("/")
        base = f"/v1.0/teams/{quote(team, safe='')}/channels/{quote(channel_id, safe=':@')}"
        found: list[ChatMessage] = []
        for item in self._pages(source, f"{base}/messages"):
            message = self._message(item, channel, None, source.context)
            if message is None or message.ts < since:
                continue
            found.append(message)
            replies = f"{base}/messages/{quote(message.id, safe='')}/replies"
            for reply in self._pages(source, replies):
                answer = self._message(reply, channel, message.id, source.context)
                if answer is not None:
                    found.append(answer)
        return found

    def _pages(self, source: Source, path: str) -> list[Any]:
        """Every item of an ``@odata.nextLink``-paged collection (links stay on ``base_url``)."""
        items: list[Any] = []
        link: str | None = path
        params: dict[str, Any] | None = {"$top": self.config.page_size}
        for _ in range(MAX_PAGES):
            if link is None:
                return items
            body = source.get(link, params).body
            items += page_items(body, "value", f"GET {source.url(path)}", NAME)
            following = body.get("@odata.nextLink")
            link = following if isinstance(following, str) and following else None
            params = None  # a nextLink carries its own query ($skiptoken)
        raise CollectorError(NAME, f"GET {source.url(path)}: more than {MAX_PAGES} pages")

    def _message(
        self, item: Any, channel: str, thread: str | None, context: FetchContext
    ) -> ChatMessage | None:
        """One chatMessage, None for a system event or a deleted one; malformed: logged, None."""
        try:
            message_id = require(item, "id", str)
            if optional(item, "deletedDateTime", str) is not None:
                return None
            if (optional(item, "messageType", str) or "message") != "message":
                return None
            sent = instant(require(item, "createdDateTime", str), "createdDateTime")
            return ChatMessage(message_id, sent, self._side(item), thread)
        except ItemError as bad:
            context.log_skip(labeller(f"teams:{channel}:")(item), bad.reason)
            return None

    def _side(self, item: Any) -> Side:
        if optional(item, "from.application", dict) is not None:
            return "bot"
        user = optional(item, "from.user", dict)
        if user is None:
            return "bot"  # neither a person nor an app: a connector card or a webhook post
        if require(user, "id", str) in self.config.client_users:
            return "client"
        tenant = require(item, "from.user.tenantId", str)
        return "ours" if tenant.lower() == self.config.tenant_id.lower() else "client"
