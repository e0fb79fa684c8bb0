"""The ``smtp`` notifier: alert emails to an SMTP server named by one URL.

``smtp://[user@]host[:port][?starttls=true][&allow_plaintext_auth=true]`` (port 587 by default)
or ``smtps://[user@]host[:port]`` (implicit TLS, port 465). The password is never in the URL: it
comes from ``RAPPORT_SMTP_PASSWORD`` or the secrets directory's ``rapport_smtp_password`` and is
never logged or shown. Certificates are verified (``ssl.create_default_context``, or one trusting
``ca_file`` only — for a private CA, or the tests'). Authenticating without TLS would send the
password in the clear: the config refuses it unless ``allow_plaintext_auth=true``.

One connection is kept open across the sends of a delivery round and closed by ``close``; any
error drops it, so the next send reconnects. Replies: 4xx is transient (greylisting, a full
queue), 5xx permanent; connection failures and timeouts are transient.
"""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, model_validator

from rapport.api.notify.base import BaseNotifier, DeliveryError, Envelope, NotifierConfig
from rapport.api.notify.render import Composer

_TRUE = ("1", "true", "yes", "on")


class SmtpConfig(NotifierConfig):
    """An SMTP server: ``url`` (see the module docstring), the password, a CA bundle to trust
    instead of the system's, and a per-operation timeout in seconds."""

    url: str
    password: SecretStr | None = None
    ca_file: Path | None = None
    timeout: float = Field(default=30.0, gt=0)

    @property
    def implicit_tls(self) -> bool:
        return urlsplit(self.url).scheme == "smtps"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (465 if self.implicit_tls else 587)

    @property
    def user(self) -> str | None:
        user = urlsplit(self.url).username
        return unquote(user) if user else None

    def option(self, name: str) -> bool:
        values = parse_qs(urlsplit(self.url).query).get(name, ["false"])
        return values[-1].lower() in _TRUE

    @property
    def shown_url(self) -> str:
        """The URL without query or credentials: what messages may show."""
        scheme = urlsplit(self.url).scheme
        return f"{scheme}://{self.host}:{self.port}"

    @model_validator(mode="after")
    def _safe(self) -> SmtpConfig:
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://[user@]host[:port] or smtps://host[:port]")
        if parts.password is not None:
            raise ValueError("must not hold a password: set RAPPORT_SMTP_PASSWORD instead")
        known = {"starttls", "allow_plaintext_auth"}
        unknown = sorted(set(parse_qs(parts.query)) - known)
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)} (known: {sorted(known)})")
        tls = self.implicit_tls or self.option("starttls")
        if self.user and not tls and not self.option("allow_plaintext_auth"):
            raise ValueError(
                "would send the password without TLS: add ?starttls=true, use smtps://, or "
                "(on a trusted network only) ?allow_plaintext_auth=true"
            )
        return self


class SmtpNotifier(BaseNotifier[SmtpConfig], name="smtp"):
    """Sends each envelope's email with one ``sendmail`` on a kept-open connection."""

    def __init__(
        self, config: SmtpConfig, composer: Composer, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(config)
        self._composer = composer
        cafile = str(config.ca_file) if config.ca_file else None
        self._tls = tls or ssl.create_default_context(cafile=cafile)
        self._connection: smtplib.SMTP | None = None

    def send(self, envelope: Envelope) -> None:
        message = self._composer.compose(envelope)
        recipient = str(message["To"])
        try:
            connection = self._connect()
            connection.sendmail(self._composer.sender, [recipient], message.as_bytes())
        except smtplib.SMTPRecipientsRefused as error:
            self.close()
            code, reply = next(iter(error.recipients.values()))
            raise self._reply_error(code, reply) from None
        except smtplib.SMTPResponseException as error:
            self.close()
            raise self._reply_error(error.smtp_code, error.smtp_error) from None
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise DeliveryError(self.name, self._reason(error), transient=True) from None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        c = self.config
        connection: smtplib.SMTP
        if c.implicit_tls:
            connection = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._tls)
        else:
            connection = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        try:
            connection.ehlo()
            if not c.implicit_tls and c.option("starttls"):
                connection.starttls(context=self._tls)
                connection.ehlo()
            if c.user:
                password = c.password.get_secret_value() if c.password else ""
                connection.login(c.user, password)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()

    def _reply_error(self, code: int, reply: bytes | str) -> DeliveryError:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        reason = f"{self.config.shown_url} replied {code} {text.strip()}"
        return DeliveryError(self.name, reason, transient=400 <= code < 500)

    def _reason(self, error: BaseException) -> str:
        # smtplib's messages never hold the password; the URL shown has no credentials.
        kind = type(error).__name__
        detail = str(error).strip() or kind
        return f"{self.config.shown_url}: {kind}: {detail}"
