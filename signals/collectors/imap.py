"""``imap``: a shared project mailbox → ``response_time`` (hours from a client's mail to our reply).

Messages are grouped into threads by ``References`` / ``In-Reply-To`` (falling back to the subject
without its ``Re:``/``Fwd:`` prefixes). A message from a client's domain (mapped through the
registry's ``email_domain`` attribute) starts the wait unless the thread is already waiting; the
first later message from one of ``team_domains`` ends it, and the wait becomes one signal dated at
the client's message, ``channel: email``, ``thread: <subject>``. Dates come from the ``Date``
header (the server's arrival time when it is missing or unreadable)::

    mailbox:
      type: imap
      host: imap.example.com
      username: projects@example.com
      token_env: PROJECT_MAILBOX_PASSWORD
      mailboxes: [INBOX, Sent]           # replies often live in Sent
      team_domains: [example.com]

Only headers are fetched (``BODY.PEEK``, nothing marked read; 64 KiB at most), in UID batches;
the cursor keeps each mailbox's UIDVALIDITY and last UID plus the open threads, so a client mail
read in one run is answered by a reply read in a later one. A mailbox whose UIDVALIDITY changed
is read again from ``lookback`` (a first read from ``lookback`` or the history the scorecard
reads for ``response_time``, whichever is longer, or ``backfill:`` when set); message ids
already seen are not counted twice. Threads silent for longer than ``forget_after`` are dropped
from the cursor (an unanswered mail then yields no signal).
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BaseCollector,
    CollectorConfig,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.sql import read_password
from rapport.signals.model import StoredSignal, parse_signal

HEADERS = "FROM DATE SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_HEADER_BYTES = 65_536
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|回复|答复|转发)\s*(\[\d+\])?\s*[:：]\s*)+", re.I
)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_FETCH_META = re.compile(rb"UID (\d+).*?INTERNALDATE \"([^\"]+)\"", re.S)


class ImapConfig(CollectorConfig):
    """An ``imap`` source. The password is read from ``token_env`` or ``token_file``."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535, description="default 993, or 143")
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = Field(min_length=1)
    token_env: str | None = None
    token_file: str | None = None
    mailboxes: tuple[str, ...] = Field(default=("INBOX",), min_length=1)
    team_domains: tuple[str, ...] = Field(min_length=1)
    lookback: Duration = 30 * 86400.0
    forget_after: Duration = 30 * 86400.0
    batch_size: int = Field(default=200, ge=1, le=5000)
    timeout: Duration = 30.0
    channel: str = Field(default="email", min_length=1, max_length=200)

    @field_validator("team_domains")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.strip().lower().lstrip("@") for d in value)

    @model_validator(mode="after")
    def _safe(self) -> ImapConfig:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("name the password in exactly one of token_env or token_file")
        if self.security == "none" and self.host not in LOOPBACK:
            raise ValueError("security: none sends the password in clear; only allowed on loopback")
        return self


# --- reading messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """The headers of one message that matter for threading and timing."""

    mailbox: str
    uid: int
    message_id: str
    sent: datetime
    domain: str
    subject: str
    references: tuple[str, ...]


def normalized_subject(subject: str) -> str:
    return " ".join(_REPLY_PREFIX.sub("", subject).split()).lower()


def parse_mail(mailbox: str, uid: int, arrived: datetime, raw: bytes) -> Mail:
    """Headers → ``Mail``; absent or broken headers get safe stand-ins, never an exception."""
    headers: Message = BytesHeaderParser().parsebytes(raw)
    message_ids = _MESSAGE_ID.findall(str(headers.get("Message-ID", "")))
    message_id = message_ids[0] if message_ids else f"<{uid}.{mailbox}@rapport.invalid>"
    addresses = getaddresses([str(headers.get("From", ""))])
    address = addresses[0][1] if addresses else ""
    domain = address.rsplit("@", 1)[1].lower() if "@" in address else ""
    refs = _MESSAGE_ID.findall(str(headers.get("References", "")))
    refs += [r for r in _MESSAGE_ID.findall(str(headers.get("In-Reply-To", ""))) if r not in refs]
    return Mail(
        mailbox, uid, message_id, _sent(headers, arrived), domain, _subject(headers), tuple(refs)
    )


def _sent(headers: Message, arrived: datetime) -> datetime:
    try:
        sent = parsedate_to_datetime(str(headers.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return arrived
    return sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent.astimezone(UTC)


def _subject(headers: Message) -> str:
    raw = headers.get("Subject", "")
    try:
        text = str(make_header(decode_header(str(raw))))
    except (UnicodeError, LookupError, ValueError):
        text = str(raw)
    return " ".join(text.split())[:200]


def _arrival(meta: bytes) -> tuple[int, datetime] | None:
    match = _FETCH_META.search(meta)
    if match is None:
        return None
    arrived = datetime.strptime(match.group(2).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    return int(match.group(1)), arrived.astimezone(UTC)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- thread state kept in the cursor --------------------------------------------------------------


class Threads:
    """Open threads and which message belongs to which, as kept in the cursor.

    ``threads[root] = {"waiting": epoch of the oldest unanswered client mail or None, "client",
    "message_id" (of that mail), "subject", "last" (epoch of the last activity)}``;
    ``roots[message_id] = root`` also marks a message as already counted.
    """

    def __init__(self, cursor: dict[str, Any]) -> None:
        self.threads: dict[str, dict[str, Any]] = dict(cursor.get("threads", {}))
        self.roots: dict[str, str] = dict(cursor.get("roots", {}))

    def seen(self, mail: Mail) -> bool:
        return mail.message_id in self.roots

    def root_of(self, mail: Mail) -> str:
        for ref in mail.references:
            if ref in self.roots:
                return self.roots[ref]
        if mail.references:
            return mail.references[0]
        subject = normalized_subject(mail.subject)
        for root, thread in self.threads.items():
            if subject and normalized_subject(thread["subject"]) == subject:
                return root
        return mail.message_id

    def prune(self, now: datetime, forget_after: float) -> None:
        horizon = now.timestamp() - forget_after
        self.threads = {r: t for r, t in self.threads.items() if t["last"] >= horizon}
        self.roots = {m: r for m, r in self.roots.items() if r in self.threads}

    def dump(self) -> dict[str, Any]:
        return {"threads": self.threads, "roots": self.roots}


class ImapCollector(
    BaseCollector[ImapConfig],
    name="imap",
    kinds=("response_time",),
    client_attribute="email_domain",
):
    """Client mail → team reply waits in a shared mailbox → ``response_time`` signals."""

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        """Read the next batch of every mailbox, in time order up to where all of them are read."""
        state = dict(cursor) if isinstance(cursor, dict) else {}
        boxes: dict[str, Any] = dict(state.get("mailboxes", {}))
        threads = Threads(state)
        with self._session(context) as session:
            batches = {m: self._batch(session, m, boxes, context) for m in self.config.mailboxes}
        ready, more = _ready(batches)
        signals = [s for mail in ready if (s := self._apply(mail, threads, context)) is not None]
        folded = {(m.mailbox, m.uid) for m in ready}
        for mailbox, (mails, _, validity) in batches.items():
            known = boxes.get(mailbox, {})
            last = int(known.get("last_uid", 0)) if known.get("uidvalidity") == validity else 0
            boxes[mailbox] = {"uidvalidity": validity, "last_uid": _contiguous(mails, folded, last)}
        threads.prune(context.now, self.config.forget_after)
        return FetchResult(signals, {"mailboxes": boxes, **threads.dump()}, more)

    @contextmanager
    def _session(self, context: FetchContext) -> Iterator[imaplib.IMAP4]:
        config = self.config
        password = read_password(config.token_env or config.token_file or "", context, self.name)
        port = config.port or (993 if config.security == "ssl" else 143)
        where = f"{config.host}:{port}"
        try:
            if config.security == "ssl":
                tls = ssl.create_default_context()
                session: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    config.host, port, ssl_context=tls, timeout=config.timeout
                )
            else:
                session = imaplib.IMAP4(config.host, port, timeout=config.timeout)
                if config.security == "starttls":
                    session.starttls(ssl.create_default_context())
            session.login(config.username, password)
        except (OSError, imaplib.IMAP4.error) as error:
            raise CollectorError(
                self.name, f"cannot log in to {where}: {_reason(error)}"
            ) from error
        try:
            yield session
        except (OSError, imaplib.IMAP4.error) as error:
            raise CollectorError(self.name, f"{where}: {_reason(error)}") from error
        finally:
            with suppress(OSError, imaplib.IMAP4.error):
                session.logout()

    def _batch(
        self, session: imaplib.IMAP4, mailbox: str, boxes: dict[str, Any], context: FetchContext
    ) -> tuple[list[Mail], bool, int]:
        """The next ``batch_size`` messages of ``mailbox`` (UID order), whether more wait, and
        the mailbox's UIDVALIDITY."""
        status, _ = session.select(_quote(mailbox), readonly=True)
        if status != "OK":
            raise CollectorError(self.name, f"cannot open mailbox {mailbox!r}")
        validity = int(session.response("UIDVALIDITY")[1][0] or 0)
        known = boxes.get(mailbox, {})
        if known.get("uidvalidity") == validity:
            last = int(known.get("last_uid", 0))
            _, found = session.uid("SEARCH", f"UID {last + 1}:*")
            uids = [u for u in _numbers(found) if u > last]  # "n:*" always includes the last UID
        else:
            lookback = context.first_run_seconds(self.config.lookback)
            since = (context.now - timedelta(seconds=lookback)).strftime("%d-%b-%Y")
            _, found = session.uid("SEARCH", f"SINCE {since}")
            uids = _numbers(found)
        taken = sorted(uids)[: self.config.batch_size]
        return self._headers(session, mailbox, taken, context), len(uids) > len(taken), validity

    def _headers(
        self, session: imaplib.IMAP4, mailbox: str, uids: list[int], context: FetchContext
    ) -> list[Mail]:
        if not uids:
            return []
        # <0.N>: a partial fetch, so a message with absurd headers cannot flood the run
        wanted = f"(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({HEADERS})]<0.{MAX_HEADER_BYTES}>)"
        _, parts = session.uid("FETCH", ",".join(str(u) for u in uids), wanted)
        mails: list[Mail] = []
        for part in parts:
            if not isinstance(part, tuple):
                continue
            meta = _arrival(part[0])
            if meta is None:
                context.log_skip(f"{mailbox}: a message", "no UID or INTERNALDATE in the answer")
                continue
            mails.append(parse_mail(mailbox, meta[0], meta[1], part[1]))
        return sorted(mails, key=lambda m: m.uid)

    def _apply(self, mail: Mail, threads: Threads, context: FetchContext) -> StoredSignal | None:
        """Fold one message into its thread; a team reply to a waiting thread yields a signal."""
        if threads.seen(mail):
            return None
        team = self._is_team(mail.domain)
        client = None if team or not mail.domain else context.clients.resolve(mail.domain)
        root = threads.root_of(mail)
        if root not in threads.threads and client is None:
            # Only threads a client wrote in are tracked: a team-first or third-party thread
            # adds nothing until a client joins, and keeping it would only grow the cursor.
            return None
        threads.roots[mail.message_id] = root
        thread = threads.threads.setdefault(
            root, {"waiting": None, "client": None, "message_id": None, "subject": mail.subject}
        )
        sent = mail.sent.timestamp()
        thread["last"] = max(sent, thread.get("last", sent))
        if team:
            return self._answer(mail, thread, context)
        if client is not None and thread["waiting"] is None:
            thread.update(waiting=sent, client=client, message_id=mail.message_id)
        return None

    def _answer(
        self, mail: Mail, thread: dict[str, Any], context: FetchContext
    ) -> StoredSignal | None:
        waiting = thread["waiting"]
        if waiting is None:
            return None
        thread["waiting"] = None
        hours = (mail.sent.timestamp() - waiting) / 3600
        if hours < 0:
            context.log_skip(mail.message_id, "the reply is dated before the mail it answers")
            return None
        return parse_signal(
            {
                "event_id": f"imap:{thread['message_id'].strip('<>')}"[:200],
                "client": thread["client"],
                "kind": "response_time",
                "ts": datetime.fromtimestamp(waiting, UTC),
                "value": round(hours, 6),
                "channel": self.config.channel,
                "thread": thread["subject"] or None,
            }
        ).to_stored(context.clients.zones)

    def _is_team(self, domain: str) -> bool:
        return any(domain == d or domain.endswith("." + d) for d in self.config.team_domains)


def _ready(batches: dict[str, tuple[list[Mail], bool, int]]) -> tuple[list[Mail], bool]:
    """The messages safe to fold now, in time order, and whether anything is left for later.

    A mailbox with more unread messages has only been read up to the latest message of its batch;
    messages of other mailboxes after that time wait for the next fetch, so replies and the mails
    they answer are folded in the order they were sent even while catching up a backlog.
    """
    horizons = [max(m.sent for m in mails) for mails, more, _ in batches.values() if more and mails]
    horizon = min(horizons) if horizons else None
    every = [m for mails, _, _ in batches.values() for m in mails]
    ready = sorted(
        (m for m in every if horizon is None or m.sent <= horizon), key=lambda m: (m.sent, m.uid)
    )
    more = any(more for _, more, _ in batches.values()) or len(ready) < len(every)
    return ready, more


def _contiguous(mails: list[Mail], folded: set[tuple[str, int]], last: int) -> int:
    """The highest UID up to which every fetched message of a mailbox has been folded."""
    for mail in mails:  # UID order
        if (mail.mailbox, mail.uid) not in folded:
            break
        last = mail.uid
    return last


def _numbers(found: list[Any]) -> list[int]:
    return [int(n) for chunk in found if chunk for n in bytes(chunk).split()]


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = error.args[0] if error.args else type(error).__name__
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
