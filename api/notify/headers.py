"""Header values safe by construction, whatever the data they are built from.

The Python this runs on (3.11.7) predates CPython's fix for CVE-2024-6923 (a newline in a header
value is not refused when the message is serialised) and its ``email.utils`` address parser has
no strict mode (CVE-2023-27043). So nothing here relies on the email package to refuse bad input:
``header_text`` removes every control and line-separator character from a value built from data
(a client's name reaches the subject), and ``checked_address`` lets an address into a header only
after ``email-validator`` accepted it — bare, never with a display name built from data.
"""

# The heavy libraries (jinja2, css-inline, babel, email-validator, httpx, prometheus_client)
# load when first used, not with the module: `rapport --help` must stay light.
# ruff: noqa: PLC0415

from __future__ import annotations

import unicodedata

from rapport.engine.errors import RapportError

#: Longest header value kept (a subject or a label); longer text is cut, marked with "…".
MAX_HEADER_CHARS = 200


class InvalidAddressError(RapportError):
    """An email address that may not reach a header; the message says why."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = header_text(address)
        self.reason = reason
        super().__init__(f"Invalid email address {self.address!r}: {reason}")


def header_text(value: str, limit: int = MAX_HEADER_CHARS) -> str:
    """``value`` with control characters (CR, LF, TAB, NUL, …; Unicode category Cc), line and
    paragraph separators (Zl, Zp) and format characters (Cf: bidi overrides) replaced by a space,
    runs of whitespace collapsed, and cut to ``limit`` characters."""
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in value
    )
    text = " ".join(cleaned.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def checked_address(address: str) -> str:
    """``address`` normalised by email-validator (syntax only: no DNS lookups); raises
    ``InvalidAddressError`` with the validator's reason otherwise."""
    from email_validator import EmailNotValidError, validate_email

    if address != header_text(address, limit=10_000):
        raise InvalidAddressError(address, "it contains control characters or spaces")
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidAddressError(address, str(error)) from None
    return str(result.normalized)
