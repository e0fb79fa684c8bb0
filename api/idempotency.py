"""``Idempotency-Key`` support for ``POST /signals``: a retried request gets the first response.

A key is remembered per token (two callers may pick the same key) with a hash of the request and
the response it got. The same key with the same request replays that response; with a different
request it is a 409. Keys are forgotten after ``RETENTION``. The table is created by migration
``0003_idempotency``.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from rapport.api.errors import BadRequestError, IdempotencyConflictError

RETENTION = 24 * 3600.0  # seconds a key is remembered
_PURGE_EVERY = 600.0
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as in the IETF draft's examples

metadata = sa.MetaData()
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("principal", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_idempotency_keys_created_at", "created_at"),
)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str


def request_hash(canonical_body: str) -> str:
    return hashlib.sha256(canonical_body.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise BadRequestError("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


class IdempotencyKeys:
    """Remembered keys in the store's database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._purged_at = 0.0

    def replay(self, principal: str, key: str, digest: str) -> StoredResponse | None:
        """The response first given to (principal, key); 409 when that request was different."""
        t = idempotency_keys
        query = sa.select(t.c.request_hash, t.c.status_code, t.c.response).where(
            t.c.principal == principal, t.c.key == key, t.c.created_at >= time.time() - RETENTION
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        if row.request_hash != digest:
            raise IdempotencyConflictError(key)
        return StoredResponse(row.status_code, row.response)

    def remember(
        self, principal: str, key: str, digest: str, status_code: int, body: str
    ) -> StoredResponse | None:
        """Store the response (None). When a concurrent request with the same key stored one
        first, return that one instead — or 409 if its request was different."""
        self._purge()
        t = idempotency_keys
        row = {
            "principal": principal,
            "key": key,
            "request_hash": digest,
            "status_code": status_code,
            "response": body,
            "created_at": time.time(),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    sa.delete(t).where(
                        t.c.principal == principal,
                        t.c.key == key,
                        t.c.created_at < time.time() - RETENTION,
                    )
                )
                conn.execute(sa.insert(t).values(row))
        except IntegrityError:
            return self.replay(principal, key, digest)
        return None

    def _purge(self) -> None:
        now = time.time()
        if now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        t = idempotency_keys
        with self._engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.created_at < now - RETENTION))
