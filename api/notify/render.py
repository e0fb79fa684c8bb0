"""Alert emails: Jinja2 templates in a sandbox → a multipart (text + HTML) message.

Templates are package data (``templates/``), overridable file by file from
``<rules>/templates/``. For a language ``L`` (``en`` or ``zh``, from the recipient's locale) an
email is ``alert.L.subject.j2``, ``alert.L.txt.j2`` and ``alert.L.html.j2``; a digest uses
``digest.L.*``. The environment is an ``ImmutableSandboxedEnvironment`` (a template from the rules
directory cannot reach Python internals) with ``StrictUndefined`` (a misspelt name is an error,
not an empty string); HTML templates are autoescaped, the text and subject ones are not. The HTML
is passed through css-inline so mail clients that drop ``<style>`` (Gmail, Outlook) keep the look.

Dates, times and numbers are formatted for the recipient's locale (babel) in their time zone.
Every header value goes through ``headers.header_text``; every address through
``headers.checked_address``.
"""

# The heavy libraries (jinja2, css-inline, babel, email-validator, httpx, prometheus_client)
# load when first used, not with the module: `rapport --help` must stay light.
# ruff: noqa: PLC0415

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime as rfc2822_date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport.api.notify.headers import checked_address, header_text
from rapport.api.notify.notice import AlertNotice, Recipient

if TYPE_CHECKING:
    from rapport.api.notify.base import Envelope

LANGUAGES = ("en", "zh")
_PACKAGE_TEMPLATES = Path(__file__).with_name("templates")


def language_of(locale: str) -> str:
    """The shipped language for ``locale``: ``zh`` for any Chinese locale, else ``en``."""
    return "zh" if locale.lower().replace("_", "-").split("-")[0] == "zh" else "en"


def _babel_locale(locale: str) -> str:
    language = language_of(locale)
    return "zh_Hans_CN" if language == "zh" else locale.replace("-", "_")


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone ``name``; UTC when it is unknown (a recipient's zone never stops a mail)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Rendered:
    """One email's parts, before headers: subject (one clean line), text and inlined HTML."""

    subject: str
    text: str
    html: str


class Renderer:
    """Renders notices with the package's templates, or the rules directory's overrides."""

    def __init__(self, rules_dir: Path | None = None) -> None:
        from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        search = [str(_PACKAGE_TEMPLATES)]
        if rules_dir is not None:
            search.insert(0, str(rules_dir / "templates"))
        self._env = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(path) for path in search]),
            undefined=StrictUndefined,
            autoescape=lambda name: name is not None and name.endswith(".html.j2"),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, notices: Sequence[AlertNotice], recipient: Recipient) -> Rendered:
        """The email to ``recipient`` about ``notices``: one notice is an alert email, several a
        digest. Raises jinja2's errors for a broken template (a programming or rules error)."""
        import css_inline

        language = language_of(recipient.locale)
        base = "alert" if len(notices) == 1 else "digest"
        context = email_context(notices, recipient)
        part = self._env.get_template

        subject = part(f"{base}.{language}.subject.j2").render(context)
        text = part(f"{base}.{language}.txt.j2").render(context)
        html = css_inline.inline(part(f"{base}.{language}.html.j2").render(context))
        return Rendered(header_text(subject), text, html)


def email_context(notices: Sequence[AlertNotice], recipient: Recipient) -> dict[str, Any]:
    """What the templates see: the notices as plain dicts, each with its numbers and times
    already formatted for ``recipient`` (``fmt``), and the recipient."""
    from babel.dates import format_datetime
    from babel.numbers import format_decimal

    from rapport.api.alert_measure import measured_texts
    from rapport.api.pages.i18n import Texts

    locale, zone = _babel_locale(recipient.locale), zone_of(recipient.timezone)

    def number(value: float | None) -> str:
        return "–" if value is None else format_decimal(round(value, 1), locale=locale)

    def signed(value: float) -> str:
        return ("+" if value > 0 else "") + number(value)

    def when(moment: datetime) -> str:
        return f"{format_datetime(moment.astimezone(zone), 'medium', locale=locale)} ({zone.key})"

    formats = Texts("zh-CN" if language_of(recipient.locale) == "zh" else "en").measure_formats(
        locale
    )
    items = []
    for notice in notices:
        item = notice.model_dump(mode="python")
        value, threshold = measured_texts(
            notice.measure,
            notice.value,
            notice.threshold,
            formats=formats,
            grades=(notice.grade, notice.threshold_grade),
        )
        item["fmt"] = {
            "score": number(notice.score),
            "score_before": number(notice.score_before),
            "value": value,
            "threshold": threshold,
            "at": when(notice.at),
            "drivers": [
                {
                    "before": number(d.before),
                    "after": number(d.after),
                    "delta": signed(d.delta),
                    "value": number(d.value),
                    "points": number(d.points),
                }
                for d in notice.drivers
            ],
        }
        items.append(item)
    return {"notices": items, "notice": items[0], "recipient": recipient.model_dump()}


def compose_email(
    rendered: Rendered,
    *,
    sender: str,
    recipient: str,
    message_key: str,
    now: datetime,
) -> EmailMessage:
    """The multipart/alternative message: headers from clean values only, addresses checked.

    ``message_key`` (the outbox key) gives a stable ``Message-ID`` — a resent duplicate carries
    the same id, so mail clients that thread by it show one message — and ``X-Rapport-Key``.
    """
    from_address, to_address = checked_address(sender), checked_address(recipient)
    digest = hashlib.sha256(message_key.encode()).hexdigest()[:32]
    message = EmailMessage(policy=SMTP)
    message["Subject"] = header_text(rendered.subject)
    message["From"] = f"Rapport <{from_address}>"
    message["To"] = to_address
    message["Date"] = rfc2822_date(now)
    message["Message-ID"] = f"<{digest}@{from_address.rpartition('@')[2]}>"
    message["X-Rapport-Key"] = digest
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office robots stay quiet
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class Composer:
    """Turns an outbox envelope into its email: ``renderer``'s parts, ``sender`` as From, dated
    by ``clock``. Shared by the email notifiers (``smtp``, ``eml``)."""

    def __init__(self, renderer: Renderer, sender: str, clock: Callable[[], datetime]) -> None:
        self.renderer = renderer
        self.sender = checked_address(sender)
        self._clock = clock

    def compose(self, envelope: Envelope) -> EmailMessage:
        rendered = self.renderer.render(envelope.notices, envelope.recipient)
        return compose_email(
            rendered,
            sender=self.sender,
            recipient=envelope.recipient.email,
            message_key=envelope.key,
            now=self._clock(),
        )
