"""What the chat connectors (``slack``, ``teams``) share: their config fields and the one fetch
that turns each configured channel's messages into ``response_time`` signals (the pairing is
``chat.py``'s). A connector says only how to read a channel's messages and who wrote them.

One fetch reads every configured channel:

- a channel is mapped to its client first (``client_attribute`` in clients.yaml, or the
  collector's ``clients:`` overrides); an unmapped channel is counted and not read;
- its first run reads top-level messages from ``initial_lookback`` ago (30 days, or the history
  the scorecard reads for ``response_time`` — 44 days with the shipped one — or ``backfill:``);
  later runs read from ``follow_threads`` (14 days) ago, or from the last message read when that
  is older, so replies in threads started up to two weeks ago are still seen;
- only messages newer than what was already folded in their scope count (``ChannelState``);
  answered waits and open ones (``open_after``) become signals; waits older than
  ``forget_after`` (30 days) leave the cursor, their last open signal staying in the store.

The cursor is ``{"channels": {channel: ChannelState.dump()}}``; event ids are
``<type>:<channel>:<first client message id>``, so re-reading a window only updates rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field

from rapport.engine.model import Duration
from rapport.signals.collectors.base import BadCursorError, FetchContext, FetchResult, JsonValue
from rapport.signals.collectors.chat import (
    TOP,
    ChannelState,
    ChatMessage,
    Wait,
    horizon,
    wait_signal,
)
from rapport.signals.collectors.http_collector import HttpCollector, HttpSourceConfig, Source
from rapport.signals.model import StoredSignal


class ChatSourceConfig(HttpSourceConfig):
    """The settings every chat connector has: the ``channels`` to read, ``client_users`` (ids of
    people who write for the client although their account looks like ours — a guest account,
    a client contractor in our workspace), and the time spans of the module docstring."""

    channels: tuple[str, ...] = Field(min_length=1)
    client_users: tuple[str, ...] = ()
    open_after: Duration = 86400.0
    follow_threads: Duration = 14 * 86400.0
    forget_after: Duration = 30 * 86400.0
    initial_lookback: Duration = 30 * 86400.0


K = TypeVar("K", bound=ChatSourceConfig)


class ChatCollector(HttpCollector[K]):
    """Base of a chat connector: ``read_channel`` lists a channel's messages (top-level from
    ``since``, plus the replies of their threads, as ``ChatMessage`` with the author's side);
    ``client_key`` is the id a channel is mapped to a client by."""

    def read_channel(
        self, source: Source, channel: str, since: datetime, state: ChannelState
    ) -> list[ChatMessage]:
        """Messages of ``channel``: every top-level one sent at or after ``since`` and the
        replies in their threads. ``state`` says how far each thread was read, so a connector
        may skip threads with nothing new. A malformed message is logged via
        ``source.context.log_skip`` and left out."""
        raise NotImplementedError

    def client_key(self, channel: str) -> str:
        return channel

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        states = _states(cursor, self.name)
        source = self.source(context)
        signals: list[StoredSignal] = []
        for channel in self.config.channels:
            client = context.clients.resolve(self.client_key(channel))
            if client is None:
                continue
            known = states.get(channel)
            state = known or ChannelState()
            since = self._since(known, context)
            read = self.read_channel(source, channel, since, state)
            waits = state.fold(m for m in read if state.is_new(m))
            waits += state.open_waits(context.now, self.config.open_after)
            signals += [self._signal(w, client, channel, context) for w in waits]
            state.forget(
                horizon(context.now, self.config.forget_after),
                horizon(context.now, self.config.follow_threads),
            )
            states[channel] = state
        return FetchResult(signals, {"channels": {c: s.dump() for c, s in states.items()}})

    def _since(self, known: ChannelState | None, context: FetchContext) -> datetime:
        if known is None:
            return horizon(context.now, context.first_run_seconds(self.config.initial_lookback))
        follow = horizon(context.now, self.config.follow_threads)
        last = known.read.get(TOP)
        return follow if last is None else min(last, follow)

    def _signal(self, wait: Wait, client: str, channel: str, context: FetchContext) -> StoredSignal:
        thread = channel if wait.scope == TOP else f"{channel}:{wait.scope}"
        prefix = f"{self.name}:{channel}"
        zones = context.clients.zones
        return wait_signal(
            wait, client=client, event_prefix=prefix, thread=thread, source=self.name, zones=zones
        )


def _states(cursor: JsonValue, collector: str) -> dict[str, ChannelState]:
    if cursor is None:
        return {}
    try:
        channels: dict[str, Any] = dict(cursor["channels"])
        return {str(c): ChannelState.load(state) for c, state in channels.items()}
    except (TypeError, ValueError, KeyError):
        raise BadCursorError(collector, cursor) from None
