"""Helpers shared by the collector tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import imaplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from rapport.signals.model import Client


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)  # a polling interval, not a wait for the event itself


def client(cid: str, **attrs: str) -> Client:
    return Client(id=cid, name=cid.replace("-", " ").title(), attrs=dict(attrs))


@dataclass(frozen=True)
class ImapServer:
    """A running dovecot: any username logs in with ``password`` and gets its own empty maildir."""

    host: str
    port: int
    password: str

    def mailbox(self, user: str) -> imaplib.IMAP4:
        session = imaplib.IMAP4(self.host, self.port, timeout=10)
        session.login(user, self.password)
        return session

    def append(self, user: str, mailbox: str, raw: bytes, arrived: datetime) -> None:
        """Deliver ``raw`` into ``user``'s ``mailbox`` (created if needed) over IMAP."""
        session = self.mailbox(user)
        try:
            session.create(mailbox)  # answers NO when it exists; that is fine
            status, detail = session.append(mailbox, None, imaplib.Time2Internaldate(arrived), raw)
            assert status == "OK", detail
        finally:
            session.logout()
