"""HTTP routes, one module per resource; each gets the running ``Service`` from ``app.state``."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from rapport.api.schemas import ErrorBody
from rapport.api.service import Service


def service_of(request: Request) -> Service:
    """The running service the app factory stored on the app."""
    service: Service = request.app.state.service
    return service


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting error statuses with the JSON error body."""
    text = {
        400: "Bad request",
        401: "Missing or unknown token",
        403: "The token lacks the scope or owner for this",
        404: "Not found (or not visible to this token)",
        409: "Conflict",
        413: "Request body too large",
        422: "Invalid input",
        503: "Not ready (store unreachable or no rules loaded)",
    }
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


#: Errors any authenticated endpoint can answer with.
AUTH_ERRORS = (401, 403)
