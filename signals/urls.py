"""The one way a URL is shown to a person: every credential in it masked.

``mask_url`` is used wherever a store URL (or any connection URL) is printed or answered: the
``StoreError`` message, ``Store.url``, serve's start banner, ``rapport config show``, the demo's
summary line. It imports only the standard library, so settings and the CLI can use it without
loading SQLAlchemy.

What counts as a credential:

- the password of the user info (``scheme://user:secret@host``), read as SQLAlchemy reads it (from
  the first ``:`` up to the ``@``) and extended over any further ``@`` before the host ends, so an
  unencoded ``@`` or ``/`` in a password never leaks a piece of it; the user name stays visible;
- the value of every query parameter whose name contains ``pass``, ``pwd``, ``token``,
  ``secret``, ``key``, ``auth`` or ``credential`` (``password``, ``sslpassword``, ``passfile``,
  ``api_key``, ``sslkey``, ``access_token``, …), wherever it appears in the string.

Masking errs towards hiding: a name that merely looks like a credential is masked too.
"""

from __future__ import annotations

import re

MASK = "***"

_SECRET_PARAMETER = re.compile(
    r"(?i)(?P<name>[?&;][^=&;#?]*(?:pass|pwd|token|secret|key|auth|credential)[^=&;#?]*=)"
    r"[^&;#]*"
)
_USER = re.compile(r"[^:/@?#]*")
_HOST_END = re.compile(r"[/#]")


def mask_url(url: str) -> str:
    """``url`` with every credential replaced by ``***`` (see the module docstring).

    ``postgresql://app:s3cret@db/x?sslpassword=k`` → ``postgresql://app:***@db/x?sslpassword=***``.
    A string that is not a URL comes back unchanged except for anything that looks like
    ``?password=…``.
    """
    masked = _SECRET_PARAMETER.sub(lambda m: m.group("name") + MASK, url)
    scheme, sep, rest = masked.partition("://")
    if not sep:
        return masked
    user = _USER.match(rest)
    colon = user.end() if user else 0
    if not rest.startswith(":", colon):
        return masked
    at = rest.find("@", colon)
    if at < 0:
        return masked
    while True:  # a host never holds '@': any later '@' before the host ends is the password's
        end = _HOST_END.search(rest, at + 1)
        following = rest.find("@", at + 1, end.start() if end else len(rest))
        if following < 0:
            break
        at = following
    return f"{scheme}://{rest[:colon]}:{MASK}{rest[at:]}"


# SQLAlchemy's own reading of a URL (sqlalchemy.engine.url._parse_url), up to the port: the part
# that it converts with int() and so turns into a ValueError instead of an ArgumentError.
_AUTHORITY = re.compile(
    r"""
    [\w+]+://
    (?:[^:/]*(?::[^@]*)?@)?
    (?:\[[^/?]+\]|[^/:?]+)?
    (?::(?P<port>[^/?]*))?
    """,
    re.X,
)


def port_problem(url: str) -> str | None:
    """Why SQLAlchemy would fail to read the port of ``url`` (None when it would not), e.g.
    ``"the port 'five' is not a number"``; checked with the settings so that every command
    refuses such a URL as a usage error, not only those that open the store."""
    found = _AUTHORITY.match(url)
    port = found["port"] if found else None
    if not port or (port.isascii() and port.isdigit()):
        return None
    return f"the port {port!r} is not a number (in {mask_url(url)})"
