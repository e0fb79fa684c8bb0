"""The notifier plugin contract and its registry.

A notifier is a stable ``name`` (``smtp``, ``eml``, ``webhook``), a pydantic ``Config`` model and
a ``send`` step: given an ``Envelope`` (a recipient and one notice, or several for a digest) it
delivers it or raises ``DeliveryError`` saying whether a later attempt may succeed. Notifiers never
touch the outbox: the ``NotificationService`` decides what is due, calls ``send`` and records the
outcome. What a notifier talks to (an SMTP server's TLS context, an ``httpx.Client``) is handed in,
so tests hand in ones pointed at local servers.

A notifier class declares itself on its class line (``class SmtpNotifier(BaseNotifier[SmtpConfig],
name="smtp")``); a second class with a name already taken fails at import with
``DuplicateNotifierError``.
"""

# The heavy libraries (jinja2, css-inline, babel, email-validator, httpx, prometheus_client)
# load when first used, not with the module: `rapport --help` must stay light.
# ruff: noqa: PLC0415

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from rapport.api.notify.notice import AlertNotice, Recipient
from rapport.engine.errors import RapportError


class DeliveryError(RapportError):
    """One delivery attempt failed. ``transient``: it may succeed later (a 4xx SMTP reply, a
    connection refused, a webhook's 5xx or 429); otherwise it never will (a 5xx SMTP reply, a
    refused address) and the entry fails at once."""

    def __init__(self, channel: str, reason: str, *, transient: bool) -> None:
        self.channel = channel
        self.reason = reason
        self.transient = transient
        super().__init__(f"Notifier {channel!r} could not deliver: {reason}")


class DuplicateNotifierError(RapportError):
    """Two classes claim one notifier name; raised while the second one's module is imported."""

    def __init__(self, name: str, classes: Sequence[type[Any]]) -> None:
        self.name = name
        listing = " and ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
        super().__init__(f"Notifier name {name!r} registered twice: by {listing}")


class NotifierConfig(BaseModel):
    """Base of every notifier's ``Config``: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Envelope:
    """What one ``send`` delivers: ``notices`` (one, or several for a digest) to ``recipient``,
    under the outbox ``key`` of its first entry (stable across resends, so a duplicate is
    recognisable)."""

    key: str
    recipient: Recipient
    notices: Sequence[AlertNotice]


class Notifier(Protocol):
    """A delivery channel. ``send`` returns once the channel accepted the envelope (an SMTP
    server's 250, a file renamed into place, a webhook's 2xx) and raises ``DeliveryError``
    otherwise. ``close`` releases what the notifier keeps open between sends (a connection)."""

    name: ClassVar[str]

    def send(self, envelope: Envelope) -> None: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=NotifierConfig)

#: Notifier classes by name, filled as their modules are imported (``notifier_classes``).
REGISTRY: dict[str, type[Any]] = {}


class BaseNotifier(Generic[C]):
    """What the built-in notifiers are built on: a name on the class line, a config, a no-op
    ``close``."""

    name: ClassVar[str]

    def __init_subclass__(cls, *, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is None:
            return
        taken = REGISTRY.get(name)
        if taken is not None and taken is not cls:
            raise DuplicateNotifierError(name, [taken, cls])
        cls.name = name
        REGISTRY[name] = cls

    def __init__(self, config: C) -> None:
        self.config = config

    def send(self, envelope: Envelope) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


def notifier_classes() -> dict[str, type[Any]]:
    """Every built-in notifier class by name (importing their modules registers them)."""
    from rapport.api.notify import eml, smtp, webhook  # noqa: F401  (registration by import)

    return dict(REGISTRY)
