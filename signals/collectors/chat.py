"""Reply times in a chat channel shared with a client (Slack, Microsoft Teams): the one home of
how messages pair into ``response_time`` signals, and of the channel state a connector keeps in
its cursor between runs.

The measure: hours from a client-side message to the first reply by our side *in its scope*.

- **Scopes.** A top-level message is in the channel's scope; a reply is in its thread's scope.
  A waiting top-level client message is answered by our next top-level message or by our first
  reply in its own thread; a waiting client reply in a thread is answered by our next reply in
  that thread only.
- **What is not a reply.** Bot messages (integrations, workflows, app notices) never answer.
  Our own follow-ups never answer: a message of ours while nothing waits in its scope, or in
  another thread (continuing our own conversation there) leaves the client's wait running.
- **Several client messages before a reply** are one wait, measured from the *first* unanswered
  one (the client has waited since then; a "any news?" must not restart the clock). A client's
  reply in the thread of the message that is waiting adds to that wait, not a new one.
- **Silence is visible.** A wait still unanswered ``open_after`` after it began is emitted as a
  ``response_time`` whose value is the hours waited *so far* and with the attribute
  ``open: "true"``: a lower bound that only grows, so a silent channel scores as slow, never as
  missing. (IMAP emits nothing for unanswered mail; chat is where a PM is judged on silence.)
  Its event id is the first client message's, so the eventual answer replaces it in the store.
  Younger waits are kept, not emitted: five minutes of waiting is not yet slow, and emitting it
  as 0.08 h would flatter the percentile.

``pair_replies`` is the whole measure as a pure function of time-ordered messages;
``ChannelState`` is the same folding kept across runs (the open waits and how far each thread
has been read), as JSON in the connector's cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from rapport.signals.model import StoredSignal, ZoneLookup, parse_signal

Side = Literal["client", "ours", "bot"]
CHANNEL = "chat"
TOP = ""  # the scope key of a channel's top-level messages


@dataclass(frozen=True)
class ChatMessage:
    """One message: ``id`` unique within its channel (Slack's ``ts``, Teams' message id), sent at
    ``ts``, by ``side``; ``thread`` is the id of the thread's first message for a reply, None
    for a top-level message."""

    id: str
    ts: datetime
    side: Side
    thread: str | None = None


@dataclass(frozen=True)
class Wait:
    """A client's unanswered message(s) in one scope: since ``start``, first message ``first``;
    ``members`` are the ids of the top-level messages it groups (a reply in any of their threads
    answers it). ``hours`` is the time to the reply, or waited so far while ``open``."""

    first: str
    start: datetime
    scope: str
    members: tuple[str, ...] = ()
    hours: float = 0.0
    open: bool = False


@dataclass
class ChannelState:
    """The folding state of one channel: open ``waits`` by scope and ``read`` — how far each
    scope has been read (``TOP`` for top-level messages, a thread id for its replies), so the
    next run folds only newer messages."""

    waits: dict[str, Wait] = field(default_factory=dict)
    read: dict[str, datetime] = field(default_factory=dict)

    def is_new(self, message: ChatMessage) -> bool:
        """Whether ``message`` is newer than what was folded in its scope."""
        seen = self.read.get(message.thread or TOP)
        return seen is None or message.ts > seen

    def fold(self, messages: Iterable[ChatMessage]) -> list[Wait]:
        """Fold messages (in time order) into the waits; the waits they answer, answered."""
        answered: list[Wait] = []
        for message in sorted(messages, key=lambda m: (m.ts, m.id)):
            scope = message.thread or TOP
            self.read[scope] = max(message.ts, self.read.get(scope, message.ts))
            if message.side == "client":
                self._client(message, scope)
            elif message.side == "ours":
                answered.extend(self._ours(message, scope))
        return answered

    def _client(self, message: ChatMessage, scope: str) -> None:
        top = self.waits.get(TOP)
        if scope in self.waits:
            if scope == TOP and top is not None:
                self.waits[TOP] = _with_member(top, message.id)
            return
        if top is not None and message.thread in top.members:
            return  # more detail on the question already waiting in the channel
        members = (message.id,) if scope == TOP else ()
        self.waits[scope] = Wait(message.id, message.ts, scope, members)

    def _ours(self, message: ChatMessage, scope: str) -> list[Wait]:
        closing = [scope] if scope in self.waits else []
        top = self.waits.get(TOP)
        if scope != TOP and top is not None and scope in top.members:
            closing.append(TOP)  # answered in the thread of the waiting channel message
        answered = []
        for key in closing:
            wait = self.waits.pop(key)
            if message.ts >= wait.start:
                hours = (message.ts - wait.start).total_seconds() / 3600
                answered.append(Wait(wait.first, wait.start, wait.scope, wait.members, hours))
        return answered

    def open_waits(self, now: datetime, open_after: float) -> list[Wait]:
        """The waits unanswered for at least ``open_after`` seconds, with the hours so far."""
        found = []
        for wait in self.waits.values():
            waited = (now - wait.start).total_seconds()
            if waited >= open_after:
                found.append(
                    Wait(wait.first, wait.start, wait.scope, wait.members, waited / 3600, True)
                )
        return sorted(found, key=lambda w: (w.start, w.first))

    def forget(self, waits_before: datetime, reads_before: datetime) -> None:
        """Drop waits that began before ``waits_before`` and thread marks last read before
        ``reads_before``: the cursor must not grow forever (a wait dropped keeps its last open
        signal in the store; a thread dropped is no longer read)."""
        self.waits = {k: w for k, w in self.waits.items() if w.start >= waits_before}
        self.read = {k: t for k, t in self.read.items() if k == TOP or t >= reads_before}

    def dump(self) -> dict[str, Any]:
        return {
            "waits": {
                key: {"first": w.first, "start": w.start.isoformat(), "members": list(w.members)}
                for key, w in self.waits.items()
            },
            "read": {key: moment.isoformat() for key, moment in self.read.items()},
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> ChannelState:
        """The state ``dump`` wrote; ``ValueError``/``TypeError``/``KeyError`` if it is not one."""
        waits = {
            str(key): Wait(
                str(w["first"]),
                _instant(w["start"]),
                str(key),
                tuple(str(m) for m in w["members"]),
            )
            for key, w in dict(data["waits"]).items()
        }
        read = {str(key): _instant(value) for key, value in dict(data["read"]).items()}
        return cls(waits, read)


def _with_member(wait: Wait, member: str) -> Wait:
    return Wait(wait.first, wait.start, wait.scope, (*wait.members, member))


def _instant(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def pair_replies(
    messages: Iterable[ChatMessage], now: datetime, open_after: float = 86400.0
) -> list[Wait]:
    """Every answered wait in ``messages`` plus the waits open at least ``open_after`` seconds
    at ``now`` (see the module docstring), answered ones first, each in time order."""
    state = ChannelState()
    return state.fold(messages) + state.open_waits(now, open_after)


def wait_signal(
    wait: Wait, *, client: str, event_prefix: str, thread: str, source: str, zones: ZoneLookup
) -> StoredSignal:
    """A ``response_time`` signal for ``wait``: dated at its first client message, event id
    ``<event_prefix>:<first message id>``, ``channel: chat``, ``open: "true"`` while unanswered."""
    attrs = {"open": "true"} if wait.open else {}
    return parse_signal(
        {
            "event_id": f"{event_prefix}:{wait.first}"[:200],
            "client": client,
            "kind": "response_time",
            "ts": wait.start,
            "value": round(wait.hours, 6),
            "channel": CHANNEL,
            "thread": thread[:200],
            "source": source,
            "attrs": attrs,
        }
    ).to_stored(zones)


def horizon(now: datetime, seconds: float) -> datetime:
    return now - timedelta(seconds=seconds)
