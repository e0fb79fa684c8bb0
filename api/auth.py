"""Bearer tokens with scopes (``read``, ``ingest``, ``admin``) and an optional owner restriction.

Tokens are configured as SHA-256 digests (``api.settings.TokenSpec``); a presented token is hashed
and compared with every configured digest using ``hmac.compare_digest`` — all of them, so the time
taken does not reveal which one (if any) nearly matched.

- No or malformed ``Authorization`` header, or an unknown token → 401 with ``WWW-Authenticate``.
- A known token without the needed scope → 403.
- ``admin`` implies ``read`` and ``ingest``; ``ingest`` alone can only write signals.
- A token with an ``owner`` sees only that owner's clients; any other client is a 404.

With no tokens configured every request is allowed — acceptable only on a loopback address:
``check_exposure`` refuses any other bind and warns loudly on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rapport.api.errors import ForbiddenError, UnauthorizedError
from rapport.api.owners import owner_matches
from rapport.api.settings import Scope, TokenSpec
from rapport.engine.errors import RapportError
from rapport.signals.model import Client

log = logging.getLogger("rapport.auth")

_IMPLIED: dict[Scope, frozenset[Scope]] = {
    "read": frozenset({"read"}),
    "ingest": frozenset({"ingest"}),
    "admin": frozenset({"read", "ingest", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, its effective scopes, and its owner restriction."""

    name: str
    scopes: frozenset[Scope]
    owner: str | None = None

    def sees(self, client: Client) -> bool:
        """Whether this caller may know ``client`` exists."""
        return self.owner is None or owner_matches(client, self.owner)


ANONYMOUS = Principal("anonymous", frozenset({"read", "ingest", "admin"}))


class InsecureBindError(RapportError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"Refusing to serve on {host} without API tokens: anyone who can reach it could read "
            "and change your data. Configure RAPPORT_TOKENS (SHA-256 digests) or bind to 127.0.0.1"
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve anywhere


def check_exposure(host: str, tokens: Sequence[TokenSpec]) -> None:
    """Refuse to run open on a non-loopback address; warn loudly when running open on loopback."""
    if tokens:
        return
    if not is_loopback(host):
        raise InsecureBindError(host)
    log.warning(
        "NO API TOKENS CONFIGURED: every request to %s is allowed without authentication. "
        "This is only acceptable on loopback; set RAPPORT_TOKENS before exposing Rapport.",
        host,
    )


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Authenticator:
    """Resolves an ``Authorization`` header into a ``Principal``."""

    def __init__(self, tokens: Sequence[TokenSpec]) -> None:
        self._tokens = tuple(tokens)

    @property
    def open(self) -> bool:
        """No tokens configured: everyone is ``ANONYMOUS`` with every scope."""
        return not self._tokens

    def authenticate(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        if self.open:
            return ANONYMOUS
        if credentials is None or credentials.scheme.casefold() != "bearer":
            raise UnauthorizedError("missing bearer token (send 'Authorization: Bearer <token>')")
        digest = hash_token(credentials.credentials)
        found: TokenSpec | None = None
        for spec in self._tokens:  # no early exit: every digest is compared
            if hmac.compare_digest(digest, spec.sha256):
                found = spec
        if found is None:
            raise UnauthorizedError("unknown or revoked token", invalid=True)
        scopes = frozenset(s for scope in found.scopes for s in _IMPLIED[scope])
        return Principal(found.name, scopes, found.owner)


_bearer = HTTPBearer(auto_error=False, description="A token configured in RAPPORT_TOKENS")


def require(scope: Scope, *, unrestricted: bool = False) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller, who must hold ``scope`` (403 otherwise).

    ``unrestricted`` endpoints expose every client at once (``/metrics``), so an owner-restricted
    token is refused there.
    """

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = authenticator.authenticate(credentials)
        if scope not in principal.scopes:
            raise ForbiddenError(principal.name, f"lacks the {scope!r} scope")
        if unrestricted and principal.owner is not None:
            raise ForbiddenError(principal.name, f"is restricted to owner {principal.owner!r}")
        return principal

    return dependency
