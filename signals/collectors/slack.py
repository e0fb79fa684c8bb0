"""``slack``: reply times in channels shared with a client (Slack Connect) → ``response_time``.

Modelled on the Slack Web API's documented methods and shapes:

- ``GET /api/conversations.history?channel=&oldest=&inclusive=true&limit=&cursor=``
  (https://docs.slack.dev/reference/methods/conversations.history) → ``{ok, messages: [...],
  has_more, response_metadata: {next_cursor}}``; a message has ``ts`` (its id, epoch seconds as
  a string), ``user``, ``team`` / ``user_team`` (the author's workspace; in a shared channel a
  client's messages carry theirs), ``bot_id`` for bots and integrations, ``subtype`` for
  non-messages (``channel_join``, ``channel_topic``… — ignored; ``bot_message`` is a bot), and on a
  thread's parent ``thread_ts`` (= its ``ts``), ``reply_count`` and ``latest_reply``;
- ``GET /api/conversations.replies?channel=&ts=&oldest=&limit=&cursor=``
  (https://docs.slack.dev/reference/methods/conversations.replies): the thread, parent first;
- cursor pagination (https://docs.slack.dev/apis/web-api/pagination): pass
  ``response_metadata.next_cursor`` as ``cursor`` until it is empty;
- errors are HTTP 200 with ``{"ok": false, "error": "invalid_auth"}``; a refused token
  (``invalid_auth``, ``not_authed``, ``token_revoked``, ``token_expired``, ``account_inactive``)
  is one clear line, any other error names the method and channel;
- rate limits (https://docs.slack.dev/apis/web-api/rate-limits, Tier 3 for both methods): HTTP
  429 with ``Retry-After`` seconds, which the transport waits (up to ``max_wait``).

Sides: a message with ``bot_id`` (or subtype ``bot_message``) is a bot's; a ``user`` listed in
``client_users`` is the client's; otherwise the author's workspace (``user_team``, else
``team``) decides: ``team_id`` (ours) is our side, any other workspace is the client's. A message
without ``ts``, ``user`` or a workspace is skipped with its reason. The pairing (what answers
what, open waits) is ``chat.py``'s; reading windows and the cursor are ``chat_source.py``'s.
Threads are re-read only when their parent's ``latest_reply`` is newer than what was folded.

Auth: ``Authorization: Bearer <token>`` — a bot token (``xoxb-…``) with ``channels:history`` and
``groups:history``, from ``token_env`` / ``token_file``. Client: the channel id through the
registry attribute ``slack_channel``.

Example ``collectors.yaml`` entry::

    slack:
      type: slack
      schedule: {interval: 15m}
      base_url: https://slack.com
      token_env: SLACK_BOT_TOKEN
      team_id: T0123OURS               # our workspace: everyone else in the channel is the client
      channels: [C07ACME01, C07GLOBEX2]  # mapped by clients.yaml attrs.slack_channel
      open_after: 8h                   # unanswered this long → an open response_time (default 24h)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from rapport.signals.collectors.base import CollectorError, FetchContext
from rapport.signals.collectors.chat import ChannelState, ChatMessage, Side
from rapport.signals.collectors.chat_source import ChatCollector, ChatSourceConfig
from rapport.signals.collectors.http_collector import Credentials, Source, bearer
from rapport.signals.collectors.items import ItemError, labeller, optional, page_items, require

NAME = "slack"
HISTORY = "/api/conversations.history"
REPLIES = "/api/conversations.replies"
#: Slack's errors that mean the token itself is refused
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
#: subtypes that are messages someone wrote; every other subtype is a channel event
MESSAGE_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message", "bot_message"})


class SlackConfig(ChatSourceConfig):
    """``base_url`` is https://slack.com; ``team_id`` our workspace's id (``T…``)."""

    team_id: str = Field(pattern=r"^[A-Z0-9]+$")
    page_size: int = Field(default=200, ge=1, le=999)


class SlackCollector(
    ChatCollector[SlackConfig],
    name=NAME,
    kinds=("response_time",),
    client_attribute="slack_channel",
):
    """Shared-channel messages → reply times (see the module docstring)."""

    def auth(self, context: FetchContext) -> Credentials:
        return bearer(self.token(context))

    def read_channel(
        self, source: Source, channel: str, since: datetime, state: ChannelState
    ) -> list[ChatMessage]:
        found: dict[str, ChatMessage] = {}
        history = {"channel": channel, "oldest": f"{since.timestamp():.6f}", "inclusive": "true"}
        for item in self._messages(source, HISTORY, history):
            message = self._message(item, channel, source.context)
            if message is None:
                continue
            found[message.id] = message
            if _has_new_replies(item, message, state):
                thread = {"channel": channel, "ts": message.id}
                thread["oldest"] = _slack_ts_text(state.read.get(message.id), message.id)
                for reply in self._messages(source, REPLIES, thread):
                    replied = self._message(reply, channel, source.context)
                    if replied is not None and replied.thread == message.id:
                        found[replied.id] = replied
        return list(found.values())

    def _messages(self, source: Source, path: str, params: dict[str, str]) -> list[Any]:
        """Every message of a cursor-paginated method."""
        items: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            paging = {"limit": self.config.page_size, **({"cursor": cursor} if cursor else {})}
            body = self._call(source, path, {**params, **paging})
            items += page_items(body, "messages", f"GET {source.url(path)}", NAME)
            metadata = body.get("response_metadata")
            cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
            if not isinstance(cursor, str) or not cursor:
                return items
            if cursor in seen:
                raise CollectorError(NAME, f"GET {source.url(path)}: next_cursor repeats")
            seen.add(cursor)

    def _call(self, source: Source, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = source.get(path, params).body
        where = f"GET {source.url(path)}"
        if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
            raise CollectorError(NAME, f"{where}: unexpected response: 'ok' is missing")
        if body["ok"]:
            return body
        error = str(body.get("error") or "unknown_error")[:80]
        if error in AUTH_ERRORS:
            raise CollectorError(
                NAME, f"Slack refused the token ({error}): check the secret token_env/token_file"
            )
        raise CollectorError(NAME, f"{where} for channel {params['channel']}: Slack says {error}")

    def _message(self, item: Any, channel: str, context: FetchContext) -> ChatMessage | None:
        """One Slack message, None for a channel event; a malformed one is logged and None."""
        try:
            ts_text = require(item, "ts", str)
            subtype = optional(item, "subtype", str)
            if subtype is not None and subtype not in MESSAGE_SUBTYPES:
                return None
            side = self._side(item, subtype)
            thread_ts = optional(item, "thread_ts", str)
            thread = thread_ts if thread_ts is not None and thread_ts != ts_text else None
            return ChatMessage(ts_text, _slack_time(ts_text), side, thread)
        except ItemError as bad:
            context.log_skip(labeller(f"slack:{channel}:", "ts")(item), bad.reason)
            return None

    def _side(self, item: Any, subtype: str | None) -> Side:
        if optional(item, "bot_id", str) or subtype == "bot_message":
            return "bot"
        user = require(item, "user", str)
        if user in self.config.client_users:
            return "client"
        team = optional(item, "user_team", str) or require(item, "team", str)
        return "ours" if team == self.config.team_id else "client"


def _has_new_replies(item: Any, message: ChatMessage, state: ChannelState) -> bool:
    """A thread parent whose latest reply is newer than what was folded of its thread."""
    if message.thread is not None or not isinstance(item.get("reply_count"), int):
        return False
    if item["reply_count"] <= 0:
        return False
    read = state.read.get(message.id)
    latest = item.get("latest_reply")
    if read is None or not isinstance(latest, str):
        return True
    try:
        return _slack_time(latest) > read
    except ItemError:
        return True


def _slack_time(ts: str) -> datetime:
    """A Slack ``ts`` ("1712345678.000200": epoch seconds and a sequence) as a UTC instant."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        raise ItemError(f"field 'ts' is not a Slack timestamp: {ts[:40]!r}") from None


def _slack_ts_text(moment: datetime | None, default: str) -> str:
    return default if moment is None else f"{moment.timestamp():.6f}"
