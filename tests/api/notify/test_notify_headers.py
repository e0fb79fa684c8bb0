"""Headers are safe by construction: data cannot add a header, an invalid address never reaches
one, and the .eml default writes files a mail program opens."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from conftest import MEI, T0, ServiceFactory, notice
from jinja2.exceptions import SecurityError
from smtp_server import Recorder

from rapport.api.notify.headers import InvalidAddressError, checked_address, header_text
from rapport.api.notify.notice import Recipient
from rapport.api.notify.render import Renderer, compose_email

HEADERS = ["Subject", "From", "To", "Date", "Message-ID", "X-Rapport-Key", "Auto-Submitted",
           "MIME-Version", "Content-Type"]  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["Acme\r\nBcc: x@example.org", "Acme\nBcc: x@example.org", "Acme\rBcc: x@example.org",
     "Acme\u2028Bcc: x@example.org", "Acme\x00\x0bBcc: x@example.org"],
    ids=["CRLF in a client name adds no header", "a bare LF adds no header",
         "a bare CR adds no header", "a Unicode line separator adds no header",
         "NUL and vertical tab add no header"],
)  # fmt: skip
def test_a_client_name_cannot_add_a_header(
    make_service: ServiceFactory, smtp: Recorder, name: str
) -> None:
    service = make_service()
    service.enqueue([notice(name=name)])
    service.deliver_due(T0)
    [(_, rcpts, data)] = smtp.messages
    assert rcpts == ["mei@example.org"]
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    assert list(message.keys()) == HEADERS
    assert message["Subject"] == "[Rapport] Acme Bcc: x@example.org: 82 → 61 (at risk)"


@pytest.mark.parametrize(
    ("address", "reason"),
    [("mei@example.org\r\nBcc: x@example.org", "control characters"),
     ("Mei <mei@example.org>", "display name"),
     ("mei@localhost", "should have a period"),
     ("mei.example.org", "must have an @-sign")],
    ids=["an address with CRLF is refused", "a display name is refused",
         "a domain without a dot is refused", "an address without @ is refused"],
)  # fmt: skip
def test_an_invalid_recipient_address_is_refused_with_a_reason(address: str, reason: str) -> None:
    with pytest.raises(InvalidAddressError, match=reason):
        checked_address(address)
    rendered = Renderer().render([notice()], MEI)
    with pytest.raises(InvalidAddressError):
        compose_email(rendered, sender="rapport@example.org", recipient=address,
                      message_key="k", now=T0)  # fmt: skip


def test_header_text_collapses_and_cuts() -> None:
    assert header_text("a\t\tb \r\n c") == "a b c"
    assert header_text("x" * 300) == "x" * 199 + "…"


def test_the_eml_default_writes_files_a_mail_program_opens(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = make_service(smtp_url=None, outbox_dir=tmp_path / "outbox")
    assert service.email_channel == "eml"
    service.enqueue(
        [notice("a"), notice("b", to=Recipient(**{**MEI.model_dump(), "locale": "zh-CN"}))]
    )
    assert service.deliver_due(T0).sent == 2
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "outbox").glob("*.part"))
    for path in files:
        message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
        assert message["To"] == "mei@example.org"
        assert {p.get_content_type() for p in message.iter_parts()} == {"text/plain", "text/html"}


def test_templates_in_the_rules_directory_override_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "alert.en.subject.j2").write_text("Custom: {{ notice.client_name }}")
    rendered = Renderer(tmp_path).render([notice()], MEI)
    assert rendered.subject == "Custom: Northwind Logistics"
    assert "The health score of Northwind Logistics" in rendered.text  # the rest is shipped


def test_a_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    evil = "{{ notice.__class__.__mro__[1].__subclasses__() }}"
    (tmp_path / "templates" / "alert.en.subject.j2").write_text(evil)
    with pytest.raises(SecurityError):
        Renderer(tmp_path).render([notice()], MEI)


def test_html_is_autoescaped_and_text_is_not() -> None:
    rendered = Renderer().render([notice(name="<b>R&D</b>")], MEI)
    assert "&lt;b&gt;R&amp;D&lt;/b&gt;" in rendered.html and "<b>R&D</b>" not in rendered.html
    assert "<b>R&D</b>" in rendered.text
