"""``Idempotency-Key`` support for ``POST /signals``: a retried request gets the first response.

A key is remembered per token (two callers may pick the same key) with a hash of the request and
the response it got, in the store (``signals/idempotency.py``). The same key with the same request
replays that response; with a different request it is a 409. Keys are forgotten after
``RETENTION``.
"""

from __future__ import annotations

import hashlib
import re
import time

from rapport.api.errors import BadRequestError, IdempotencyConflictError
from rapport.signals.idempotency import (
    StoredResponse,
    forget_responses,
    store_response,
    stored_response,
)
from rapport.signals.store import Store

__all__ = ["RETENTION", "IdempotencyKeys", "StoredResponse", "check_key", "request_hash"]

RETENTION = 24 * 3600.0  # seconds a key is remembered
_PURGE_EVERY = 600.0
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as in the IETF draft's examples


def request_hash(canonical_body: str) -> str:
    return hashlib.sha256(canonical_body.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise BadRequestError("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


class IdempotencyKeys:
    """Remembered keys in the store's database; its failures are ``StoreError``s."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._purged_at = 0.0

    def replay(self, principal: str, key: str, digest: str) -> StoredResponse | None:
        """The response first given to (principal, key); 409 when that request was different."""
        first = stored_response(self._store, principal, key, time.time() - RETENTION)
        return None if first is None else _same_request(first, key, digest)

    def remember(
        self, principal: str, key: str, digest: str, status_code: int, body: str
    ) -> StoredResponse | None:
        """Store the response (None). When a concurrent request with the same key stored one
        first, return that one instead — or 409 if its request was different."""
        self._purge()
        now = time.time()
        response = StoredResponse(digest, status_code, body)
        first = store_response(
            self._store, principal, key, response, now=now, since=now - RETENTION
        )
        return None if first is None else _same_request(first, key, digest)

    def _purge(self) -> None:
        now = time.time()
        if now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        forget_responses(self._store, now - RETENTION)


def _same_request(first: StoredResponse, key: str, digest: str) -> StoredResponse:
    if first.request_hash != digest:
        raise IdempotencyConflictError(key)
    return first
