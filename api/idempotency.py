"""``Idempotency-Key`` support for ``POST /signals``: a retried request gets the first response.

A key is remembered per token (two callers may pick the same key) with a hash of the request and
the response it got, in the store (``signals/idempotency.py``). The same key with the same request
replays that response; with a different request it is a 409. Keys are forgotten after
``RETENTION``.

The key is reserved before the request writes anything, so of concurrent requests with one key
exactly one runs. The others do not wait: with a different body they get the usual 409, with the
same body a 409 "still in progress" (retry it: it then replays the answer). A request that fails
releases its key; one whose server died holding it frees it after ``LEASE``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time

from rapport.api.errors import (
    BadRequestError,
    IdempotencyConflictError,
    IdempotencyInProgressError,
)
from rapport.signals.idempotency import (
    StoredResponse,
    complete_key,
    forget_responses,
    release_key,
    reserve_key,
)
from rapport.signals.store import Store, StoreError

__all__ = ["RETENTION", "IdempotencyKeys", "StoredResponse", "check_key", "request_hash"]

RETENTION = 24 * 3600.0  # seconds a key is remembered
#: Seconds a reservation holds its key without an answer: far longer than the largest batch takes.
LEASE = 120.0
_PURGE_EVERY = 600.0
log = logging.getLogger("rapport.api")
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

    def reserve(self, principal: str, key: str, digest: str) -> StoredResponse | None:
        """Take the key for this request (None: go ahead, then ``complete`` or ``release`` it), or
        return the response first given with it. A 409 when it was used with another request,
        or when the first request with it is still running."""
        self._purge()
        now = time.time()
        first = reserve_key(
            self._store, principal, key, digest,
            now=now, since=now - RETENTION, lease_since=now - LEASE,
        )  # fmt: skip
        if first is None:
            return None
        if first.request_hash != digest:
            raise IdempotencyConflictError(key)
        if first.pending:
            raise IdempotencyInProgressError(key)
        return first

    def complete(self, principal: str, key: str, status_code: int, body: str) -> None:
        """Remember the answer of the request that reserved the key."""
        complete_key(self._store, principal, key, status_code, body)

    def release(self, principal: str, key: str) -> None:
        """Free the key of a request that failed. Never raises: the request's own error is the
        one to report, and if the store is down the reservation lapses after ``LEASE``."""
        try:
            release_key(self._store, principal, key)
        except StoreError as error:
            log.warning("could not release Idempotency-Key %r: %s", key, error)

    def _purge(self) -> None:
        now = time.time()
        if now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        forget_responses(self._store, now - RETENTION)
