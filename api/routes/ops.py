"""Operations endpoints at the root, Prometheus-style: ``/-/healthy``, ``/-/ready``, ``/-/reload``
and ``/metrics``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from rapport.api.auth import Principal, require
from rapport.api.metrics import CONTENT_TYPE
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.routes.rules import reload_out
from rapport.api.schemas import HealthOut, ReadyOut, ReloadOut
from rapport.engine.errors import RapportError

router = APIRouter(tags=["operations"])
log = logging.getLogger("rapport.api")

#: What an unauthenticated probe learns when the store does not answer: no URL, no driver text.
STORE_UNREACHABLE = "store unreachable"


@router.get("/-/healthy", response_model=HealthOut)
def healthy() -> HealthOut:
    """The process is up and serving HTTP (no authentication: for probes)."""
    return HealthOut(status="ok")


@router.get(
    "/-/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready; checks say why"}},
)
def ready(request: Request) -> JSONResponse:
    """Ready to serve: the store answers and valid rules are loaded (no authentication).

    Anyone may ask, so the answer names no store URL nor the driver's message (which can name
    hosts and users): ``store unreachable``; the server log has the masked details."""
    service = service_of(request)
    checks: dict[str, str] = {}
    try:
        service.store.ping()
        checks["store"] = "ok"
    except RapportError as error:
        log.warning("not ready: %s", error)  # StoreError masks the URL's credentials itself
        checks["store"] = STORE_UNREACHABLE
    bundle = service.rules.bundle
    checks["rules"] = "ok" if bundle is not None else "no valid rules loaded"
    ok = all(v == "ok" for v in checks.values())
    body = ReadyOut(ready=ok, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.post(
    "/-/reload",
    response_model=ReloadOut,
    responses={
        **errors(*AUTH_ERRORS),
        422: {"model": ReloadOut, "description": "Rejected; the previous rules keep serving"},
    },
)
def reload_rules(
    request: Request, principal: Annotated[Principal, Depends(require("admin"))]
) -> JSONResponse:
    """Re-read the rules directory now; a bad change is rejected with its findings."""
    result = service_of(request).rules.reload()
    body = reload_out(result)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if result.ok else 422)


@router.get(
    "/metrics",
    responses={
        **errors(*AUTH_ERRORS),
        200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}},
    },
    response_class=Response,
)
def metrics(
    request: Request,
    principal: Annotated[Principal, Depends(require("read", unrestricted=True))],
) -> Response:
    """Prometheus exposition (text format 0.0.4), gzip-encoded when the scraper accepts it."""
    service = service_of(request)
    clients = service.client_metrics.current
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = service.metrics.render_gzip(clients)
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(body, media_type=CONTENT_TYPE, headers=headers)
    return Response(service.metrics.render(clients), media_type=CONTENT_TYPE)
