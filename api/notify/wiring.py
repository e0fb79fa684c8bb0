"""``notification_service``: the ``NotificationService`` the settings describe.

The email channel is ``smtp`` when ``RAPPORT_SMTP_URL`` is set, else ``eml`` (files under
``RAPPORT_OUTBOX_DIR``); every ``RAPPORT_WEBHOOKS`` entry adds a ``webhook:<name>`` channel.
Templates come from the package, overridden by ``<rules_dir>/templates/``. Links in emails use
``RAPPORT_PUBLIC_URL`` (default ``http://<host>:<port>``) and ``RAPPORT_GRAFANA_URL``.
"""

# The heavy libraries (jinja2, css-inline, babel, email-validator, httpx, prometheus_client)
# load when first used, not with the module: `rapport --help` must stay light.
# ruff: noqa: PLC0415

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from rapport.api.notify.base import Notifier
from rapport.api.notify.eml import EmlConfig, EmlNotifier
from rapport.api.notify.notice import Links
from rapport.api.notify.policy import DeliveryPolicy, QuietHours
from rapport.api.notify.render import Composer, Renderer
from rapport.api.notify.service import NOTIFY_LOCK_KEY, NotificationService
from rapport.api.notify.smtp import SmtpConfig, SmtpNotifier
from rapport.api.notify.webhook import WebhookConfig, WebhookNotifier
from rapport.api.settings import Settings, SettingsError

if TYPE_CHECKING:
    import httpx
    from prometheus_client import CollectorRegistry

    from rapport.signals.store import Store


def _utc_now() -> datetime:
    return datetime.now(UTC)


def notification_service(
    settings: Settings,
    store: Store,
    *,
    clock: Callable[[], datetime] = _utc_now,
    registry: CollectorRegistry | None = None,
    tls: ssl.SSLContext | None = None,
    http: httpx.Client | None = None,
) -> NotificationService:
    """The service for ``settings`` on ``store``; ``tls`` and ``http`` replace the default SMTP
    TLS context and webhook HTTP client (tests pass ones for loopback servers)."""
    from pydantic import ValidationError

    from rapport.signals.locks import leader_lock

    composer = Composer(Renderer(settings.rules_dir), settings.smtp_from, clock)
    notifiers: dict[str, Notifier] = {}
    try:
        if settings.smtp_url:
            smtp = SmtpConfig(
                url=settings.smtp_url,
                password=settings.smtp_password,
                ca_file=settings.smtp_ca_file,
            )
            notifiers["smtp"] = SmtpNotifier(smtp, composer, tls)
        else:
            notifiers["eml"] = EmlNotifier(EmlConfig(directory=settings.outbox_dir), composer)
        for spec in settings.webhooks:
            config = WebhookConfig(name=spec.name, url=spec.url, format=spec.format)
            notifiers[f"webhook:{spec.name}"] = WebhookNotifier(config, http)
    except ValidationError as error:
        raise SettingsError(error) from None
    policy = DeliveryPolicy(
        quiet_hours=QuietHours.parse(settings.quiet_hours) if settings.quiet_hours else None,
        digest_hour=settings.digest_hour,
        max_attempts=settings.outbox_max_attempts,
        backoff=settings.outbox_backoff,
    )
    return NotificationService(
        store,
        notifiers,
        email_channel="smtp" if settings.smtp_url else "eml",
        policy=policy,
        clock=clock,
        lock=leader_lock(store, NOTIFY_LOCK_KEY),
        registry=registry,
    )


def email_destination(settings: Settings) -> str:
    """Where alert emails go, for the ``serve`` banner: the SMTP server (scheme, host and port
    only) or the ``.eml`` directory (resolved)."""
    from urllib.parse import urlsplit

    if settings.smtp_url:
        parts = urlsplit(settings.smtp_url)
        port = f":{parts.port}" if parts.port else ""
        return f"via {parts.scheme}://{parts.hostname}{port}"
    return f"as .eml files in {settings.outbox_dir.resolve()}/ (set RAPPORT_SMTP_URL to send)"


def links_for(settings: Settings, client_id: str) -> Links:
    """The links of a notice about ``client_id``: its page and explain URL on this service, and
    its Grafana board when ``grafana_url`` (the client dashboard's URL) is set, with
    ``var-client=<id>`` appended."""
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    cid = quote(client_id, safe="")
    board = None
    if settings.grafana_url:
        separator = "&" if "?" in settings.grafana_url else "?"
        board = f"{settings.grafana_url}{separator}var-client={cid}"
    return Links(
        client=f"{base}/clients/{cid}", board=board, explain=f"{base}/clients/{cid}/explain"
    )
