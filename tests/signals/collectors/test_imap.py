"""The ``imap`` collector against a real dovecot IMAP server (started by conftest on loopback)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from collector_helpers import ImapServer
from fakeapi import drain

from rapport.signals.collectors.base import ClientMap, CollectorError, FetchContext
from rapport.signals.collectors.imap import ImapCollector, ImapConfig, normalized_subject
from rapport.signals.model import Client, StoredSignal

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
REGISTRY = [
    Client(id="acme", name="Acme", attrs={"email_domain": "acme.example"}),
    Client(id="globex", name="Globex", attrs={"email_domain": "globex.example"}),
]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def mail(
    sender: str,
    subject: str,
    sent: datetime,
    message_id: str,
    reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    headers = [
        f"From: {sender}",
        "To: projects@ours.example",
        f"Subject: {subject}",
        f"Date: {sent.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <{message_id}>",
    ]
    if reply_to:
        headers.append(f"In-Reply-To: <{reply_to}>")
    if references:
        headers.append(f"References: {references}")
    return ("\r\n".join(headers) + "\r\n\r\nHello,\r\n").encode()


@pytest.fixture
def user() -> str:
    """A fresh mailbox owner per test (dovecot gives every username its own maildir)."""
    return f"pm{secrets.token_hex(4)}"


def context(server: ImapServer) -> FetchContext:
    return FetchContext(
        now=NOW,
        clients=ClientMap(REGISTRY, "email_domain"),
        secret={"MAILBOX_PASSWORD": server.password}.__getitem__,
    )


def imap(server: ImapServer, user: str, **settings: Any) -> ImapCollector:
    config = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": user,
        "token_env": "MAILBOX_PASSWORD",
        "team_domains": ["ours.example"],
        **settings,
    }
    return ImapCollector(ImapConfig.model_validate(config))


def deliver(
    server: ImapServer, user: str, raw: bytes, sent: datetime, mailbox: str = "INBOX"
) -> None:
    server.append(user, mailbox, raw, sent + timedelta(seconds=30))


def response(
    message_id: str, client: str, asked: datetime, hours: float, subject: str
) -> StoredSignal:
    return StoredSignal(
        event_id=f"imap:{message_id}",
        client=client,
        kind="response_time",
        ts=asked,
        value=hours,
        attrs={"channel": "email", "thread": subject},
    )


def test_a_reply_from_the_team_ends_the_wait_of_the_first_unanswered_client_mail(
    imap_server: ImapServer, user: str
) -> None:
    deliver(
        imap_server,
        user,
        mail("Ann <ann@acme.example>", "Release date?", at(5, 9), "a1@acme.example"),
        at(5, 9),
    )
    deliver(
        imap_server,
        user,
        mail(
            "Bob <bob@acme.example>",
            "RE: Release date?",
            at(5, 10),
            "a2@acme.example",
            "a1@acme.example",
            "<a1@acme.example>",
        ),
        at(5, 10),
    )
    deliver(
        imap_server,
        user,
        mail(
            "Pat <pat@ours.example>",
            "Re: Release date?",
            at(5, 11, 30),
            "o1@ours.example",
            "a2@acme.example",
            "<a1@acme.example> <a2@acme.example>",
        ),
        at(5, 11, 30),
    )
    ctx = context(imap_server)
    signals, cursor = drain(imap(imap_server, user), None, ctx)
    assert signals == [response("a1@acme.example", "acme", at(5, 9), 2.5, "Release date?")]
    assert cursor["mailboxes"]["INBOX"]["last_uid"] == 3


def test_threads_started_by_the_team_or_strangers_yield_nothing(
    imap_server: ImapServer, user: str
) -> None:
    deliver(
        imap_server,
        user,
        mail("pat@ours.example", "Kick-off", at(6, 9), "o2@ours.example"),
        at(6, 9),
    )
    deliver(
        imap_server,
        user,
        mail(
            "ann@acme.example",
            "Re: Kick-off",
            at(6, 10),
            "a3@acme.example",
            "o2@ours.example",
            "<o2@ours.example>",
        ),
        at(6, 10),
    )
    deliver(
        imap_server,
        user,
        mail("news@vendor.example", "Newsletter", at(6, 11), "n1@vendor.example"),
        at(6, 11),
    )
    deliver(
        imap_server,
        user,
        mail(
            "pat@ours.example",
            "Re: Kick-off",
            at(6, 13),
            "o3@ours.example",
            "a3@acme.example",
            "<o2@ours.example> <a3@acme.example>",
        ),
        at(6, 13),
    )
    ctx = context(imap_server)
    signals, _ = drain(imap(imap_server, user), None, ctx)
    # the team wrote first, the client answered at 10:00, the team replied at 13:00
    assert signals == [response("a3@acme.example", "acme", at(6, 10), 3.0, "Re: Kick-off")]
    assert dict(ctx.clients.unmapped) == {"vendor.example": 1}


def test_a_reply_read_in_a_later_run_answers_a_mail_read_earlier(
    imap_server: ImapServer, user: str
) -> None:
    deliver(
        imap_server,
        user,
        mail("eve@globex.example", "Invoice 42", at(7, 8), "g1@globex.example"),
        at(7, 8),
    )
    collector = imap(imap_server, user)
    first, cursor = drain(collector, None, context(imap_server))
    assert first == []
    assert next(iter(cursor["threads"].values()))["waiting"] == at(7, 8).timestamp()
    # a reply without References or In-Reply-To still joins the thread by its subject
    deliver(
        imap_server,
        user,
        mail("sam@ours.example", "AW: Invoice 42", at(7, 20), "o4@ours.example"),
        at(7, 20),
    )
    second, cursor = drain(collector, cursor, context(imap_server))
    assert second == [response("g1@globex.example", "globex", at(7, 8), 12.0, "Invoice 42")]
    third, _ = drain(collector, cursor, context(imap_server))
    assert third == []


def test_replies_filed_in_another_mailbox_are_matched_in_time_order(
    imap_server: ImapServer, user: str
) -> None:
    deliver(
        imap_server, user, mail("ann@acme.example", "Outage", at(8, 9), "a5@acme.example"), at(8, 9)
    )
    deliver(
        imap_server,
        user,
        mail("ann@acme.example", "Access", at(8, 10), "a6@acme.example"),
        at(8, 10),
    )
    deliver(
        imap_server,
        user,
        mail("pat@ours.example", "Re: Outage", at(8, 9, 15), "o5@ours.example", "a5@acme.example"),
        at(8, 9, 15),
        mailbox="Sent",
    )
    deliver(
        imap_server,
        user,
        mail("pat@ours.example", "Re: Access", at(8, 16), "o6@ours.example", "a6@acme.example"),
        at(8, 16),
        mailbox="Sent",
    )
    collector = imap(imap_server, user, mailboxes=["INBOX", "Sent"], batch_size=1)
    signals, cursor = drain(collector, None, context(imap_server))
    assert signals == [
        response("a5@acme.example", "acme", at(8, 9), 0.25, "Outage"),
        response("a6@acme.example", "acme", at(8, 10), 6.0, "Access"),
    ]
    assert {m: b["last_uid"] for m, b in cursor["mailboxes"].items()} == {"INBOX": 2, "Sent": 2}


def test_mail_older_than_the_lookback_is_not_read_on_the_first_run(
    imap_server: ImapServer, user: str
) -> None:
    old = at(1, 9) - timedelta(days=40)
    deliver(imap_server, user, mail("ann@acme.example", "Old", old, "old@acme.example"), old)
    deliver(
        imap_server,
        user,
        mail("pat@ours.example", "Re: Old", at(9, 9), "o7@ours.example", "old@acme.example"),
        at(9, 9),
    )
    signals, _ = drain(imap(imap_server, user, lookback="30d"), None, context(imap_server))
    assert signals == []


def test_a_wrong_password_fails_the_run(imap_server: ImapServer, user: str) -> None:
    ctx = context(imap_server)
    ctx.secret = {"MAILBOX_PASSWORD": "wrong"}.__getitem__
    with pytest.raises(
        CollectorError, match=r"cannot log in to 127\.0\.0\.1:\d+: .*uthentication failed"
    ):
        imap(imap_server, user).fetch(None, ctx)


def test_an_unreachable_server_fails_the_run() -> None:
    config = ImapConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": 1,
            "security": "none",
            "username": "x",
            "token_env": "P",
            "team_domains": ["ours.example"],
            "timeout": "2s",
        }
    )
    ctx = FetchContext(now=NOW, clients=ClientMap(REGISTRY, "email_domain"), secret=lambda _: "p")
    with pytest.raises(CollectorError, match=r"cannot log in to 127\.0\.0\.1:1: .*refused"):
        ImapCollector(config).fetch(None, ctx)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param("Re: RE: Fwd: Budget", "budget", id="stacked reply prefixes are dropped"),
        pytest.param("AW: WG: Angebot", "angebot", id="german prefixes are dropped"),
        pytest.param("回复：项目进度", "项目进度", id="chinese prefixes are dropped"),
        pytest.param(
            "Re[2]:  Status   update", "status update", id="counted prefixes and spaces fold"
        ),
        pytest.param(
            "Regarding the plan", "regarding the plan", id="a word starting with re stays"
        ),
    ],
)
def test_subjects_are_normalized_for_threading(subject: str, expected: str) -> None:
    assert normalized_subject(subject) == expected


def test_clear_text_passwords_are_only_allowed_on_loopback() -> None:
    with pytest.raises(ValueError, match="only allowed on loopback"):
        ImapConfig.model_validate(
            {
                "host": "mail.example.com",
                "security": "none",
                "username": "x",
                "token_env": "P",
                "team_domains": ["ours.example"],
            }
        )
