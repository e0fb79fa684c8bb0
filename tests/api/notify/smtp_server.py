"""A real SMTP server on loopback (aiosmtpd) that records what it accepts, and can refuse the
first N messages, require STARTTLS and AUTH, or run a hook the moment a message is accepted."""

from __future__ import annotations

import email.policy
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Recorder:
    """The aiosmtpd handler: accepted messages in order; ``refuse`` first DATA commands get 451;
    ``on_accept`` runs after a message is recorded and before the 250 reply is sent."""

    refuse: int = 0
    on_accept: Callable[[], None] | None = None
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                return "451 4.3.0 try again later"
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.on_accept is not None:
            self.on_accept()
        return "250 OK"

    def parsed(self) -> list[EmailMessage]:
        parser = BytesParser(policy=email.policy.default)
        return [parser.parsebytes(data) for _, _, data in self.messages]  # type: ignore[misc]


def _accept_all(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=data.login == b"mei" and data.password == b"s3cret")


def start_server(recorder: Recorder, tls: ssl.SSLContext | None = None) -> Controller:
    """Serve ``recorder`` on 127.0.0.1 (any port); with ``tls``, STARTTLS and AUTH required."""
    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs = {
            "tls_context": tls,
            "require_starttls": True,
            "authenticator": _accept_all,
            "auth_require_tls": True,
        }
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    recorder.port = controller.port
    return controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
