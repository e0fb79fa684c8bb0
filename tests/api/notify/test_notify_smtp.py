"""The smtp notifier against a real server: STARTTLS with a verified certificate and AUTH, a
certificate the client does not trust, plaintext authentication refused, and the SMTP URL."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import trustme
from conftest import MEI, notice
from pydantic import SecretStr, ValidationError
from smtp_server import Recorder, start_server

from rapport.api.notify.base import DeliveryError, Envelope
from rapport.api.notify.render import Composer, Renderer
from rapport.api.notify.smtp import SmtpConfig, SmtpNotifier


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_smtp(ca: trustme.CA) -> Iterator[Recorder]:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    recorder = Recorder()
    controller = start_server(recorder, tls=server_tls)
    yield recorder
    controller.stop()


def composer() -> Composer:
    return Composer(Renderer(), "rapport@example.org", lambda: datetime(2027, 1, 11, tzinfo=UTC))


def test_starttls_with_a_verified_certificate_and_auth_delivers(
    tls_smtp: Recorder, ca: trustme.CA, tmp_path: object
) -> None:
    ca_file = tmp_path / "ca.pem"  # type: ignore[operator]
    ca.cert_pem.write_to_path(str(ca_file))
    config = SmtpConfig(url=f"smtp://mei@127.0.0.1:{tls_smtp.port}?starttls=true",
                        password=SecretStr("s3cret"), ca_file=ca_file)  # fmt: skip
    notifier = SmtpNotifier(config, composer())
    notifier.send(Envelope("k", MEI, [notice()]))
    notifier.close()
    assert [rcpts for _, rcpts, _ in tls_smtp.messages] == [["mei@example.org"]]


def test_an_untrusted_certificate_is_not_accepted(tls_smtp: Recorder) -> None:
    config = SmtpConfig(url=f"smtp://mei@127.0.0.1:{tls_smtp.port}?starttls=true",
                        password=SecretStr("s3cret"))  # fmt: skip
    notifier = SmtpNotifier(config, composer())
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        notifier.send(Envelope("k", MEI, [notice()]))
    assert caught.value.transient
    assert "s3cret" not in str(caught.value)
    assert tls_smtp.messages == []


@pytest.mark.parametrize(
    ("url", "message"),
    [("smtp://mei@mail.example.org:25", "would send the password without TLS"),
     ("smtp://mei:pw@mail.example.org", "must not hold a password"),
     ("smtp://mail.example.org?tls=1", "unknown option"),
     ("http://mail.example.org", "must look like")],
    ids=["plaintext authentication is refused", "a password in the URL is refused",
         "an unknown option is refused", "another scheme is refused"],
)  # fmt: skip
def test_unsafe_smtp_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SmtpConfig(url=url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [("smtp://mei@mail.example.org:25?allow_plaintext_auth=true", ("mail.example.org", 25, False)),
     ("smtps://mail.example.org", ("mail.example.org", 465, True)),
     ("smtp://mail.example.org?starttls=true", ("mail.example.org", 587, False))],
    ids=["plaintext auth is allowed when asked for explicitly", "smtps defaults to port 465",
         "smtp defaults to port 587"],
)  # fmt: skip
def test_smtp_urls_are_read(url: str, expected: tuple[str, int, bool]) -> None:
    config = SmtpConfig(url=url)
    assert (config.host, config.port, config.implicit_tls) == expected
