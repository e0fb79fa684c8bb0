"""Browser sessions for the pages: a signed cookie standing for a configured API token.

Browsers do not send bearer headers on their own, and a token in a URL leaks into history, logs
and Referer headers. So ``/login`` takes the token in a POSTed form, checks it with the API's own
``Authenticator``, and answers with a session cookie (HttpOnly, SameSite=Strict, Secure over
HTTPS) that holds no token, only:

- the token's name, a fingerprint of its configuration (digest, scopes, owner), the scopes it
  was granted, an expiry, and a random CSRF value for the logout form;
- an HMAC-SHA256 signature over all of it with the session secret.

A session is refused when its signature does not match (tampered, or signed with another
process's secret), when it has expired, or when the token it stands for is no longer configured
exactly as it was (revoked, rotated or re-scoped): a session never outlives its token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from rapport.api.auth import Principal
from rapport.api.settings import Scope, TokenSpec

#: The session cookie's name, and the pre-login CSRF cookie's (double-submit for the login form).
SESSION_COOKIE = "rapport_session"
LOGIN_CSRF_COOKIE = "rapport_login_csrf"
#: How long a browser session lasts before signing in again.
SESSION_LIFETIME = timedelta(hours=12)


def fingerprint(spec: TokenSpec) -> str:
    """A short digest of everything a token's configuration grants; changes when any of it does."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(f"rapport-session:{text}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who (the token's name and grants), until when, and its CSRF value."""

    name: str
    fingerprint: str
    scopes: frozenset[Scope]
    expires: datetime
    csrf: str

    def principal(self, owner: str | None) -> Principal:
        return Principal(self.name, self.scopes, owner)


class Sessions:
    """Issues and verifies session cookies with one secret (``key``)."""

    def __init__(self, key: bytes, tokens: tuple[TokenSpec, ...]) -> None:
        self._key = key
        self._tokens = {spec.name: spec for spec in tokens}

    def issue(self, principal: Principal, now: datetime) -> tuple[str, Session]:
        """The cookie value for a freshly authenticated ``principal``, and the session it holds."""
        spec = self._tokens[principal.name]
        session = Session(
            principal.name,
            fingerprint(spec),
            principal.scopes,
            now + SESSION_LIFETIME,
            secrets.token_urlsafe(24),
        )
        payload = {
            "n": session.name,
            "f": session.fingerprint,
            "s": sorted(session.scopes),
            "e": int(session.expires.timestamp()),
            "c": session.csrf,
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}", session

    def verify(self, cookie: str | None, now: datetime) -> tuple[Session, Principal] | None:
        """The session and the principal behind ``cookie``, or None when it is absent, tampered,
        expired, or its token is no longer configured as it was."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = cast(dict[str, Any], json.loads(_unb64(body)))
            session = Session(
                str(payload["n"]),
                str(payload["f"]),
                frozenset(cast(list[Scope], payload["s"])),
                datetime.fromtimestamp(int(payload["e"]), tz=now.tzinfo),
                str(payload["c"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None  # signed by us, so only an older cookie format gets here
        spec = self._tokens.get(session.name)
        if spec is None or not hmac.compare_digest(fingerprint(spec), session.fingerprint):
            return None
        if now >= session.expires:
            return None
        return session, session.principal(spec.owner)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
