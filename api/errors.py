"""Errors the HTTP layer turns into JSON responses: ``{"reason": "..."}`` with the right status.

Every subclass builds its own message; handlers in ``api.app`` render ``str(error)`` as the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from rapport.engine.errors import RapportError


class ApiError(RapportError):
    """Base of the errors that carry an HTTP status (and optional headers)."""

    status_code = 400
    headers: Mapping[str, str] = {}


class UnauthorizedError(ApiError):
    """No usable credentials: a 401 that tells the client how to authenticate."""

    status_code = 401

    def __init__(self, reason: str, *, invalid: bool = False) -> None:
        challenge = 'Bearer realm="rapport"'
        if invalid:
            challenge += ', error="invalid_token"'
        self.headers = {"WWW-Authenticate": challenge}
        super().__init__(reason)


class ForbiddenError(ApiError):
    """Authenticated, but this token may not do that: a 403 naming the missing scope."""

    status_code = 403

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(f"token {token!r} {reason}")


class NotFoundError(ApiError):
    status_code = 404

    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"No {what} by the id of {name!r} was found")


class IdempotencyConflictError(ApiError):
    status_code = 409

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request body "
            "(use a new key for a new request)"
        )


class IdempotencyInProgressError(ApiError):
    status_code = 409

    def __init__(self, key: str) -> None:
        super().__init__(
            f"a request with Idempotency-Key {key!r} is still in progress "
            "(retry it shortly to get its answer)"
        )


class PayloadTooLargeError(ApiError):
    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes")


class BadRequestError(ApiError):
    status_code = 400


class UnprocessableError(ApiError):
    status_code = 422


class NotReadyError(ApiError):
    status_code = 503
