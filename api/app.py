"""The factory: the one place that wires the store, the rules bundle, the evaluator, the alerts
and their notifications, the metrics, the collector scheduler, the clock and the routes.

``build_service`` builds the whole ``Service`` from ``Settings`` (an injected store and clock, for
tests and benchmarks); ``create_app`` serves a built service. Nothing is patched afterwards: the
CLI, the routes and the tests use what was built. The app's lifespan starts the service (load
the rules bundle, score, background re-scoring, collectors, rules watcher, SIGHUP) and stops it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from rapport.api.alerts import AlertEvaluator, counts
from rapport.api.auth import Authenticator, check_exposure
from rapport.api.clock import Clock, utc_now
from rapport.api.errors import ApiError, PayloadTooLargeError
from rapport.api.events import Evaluated, EvaluationLog, Topic
from rapport.api.history_writer import HistoryWriter
from rapport.api.idempotency import IdempotencyKeys
from rapport.api.metrics import ServiceMetrics
from rapport.api.notify.dispatch import AlertDispatch, store_explainer
from rapport.api.notify.wiring import links_for, notification_service
from rapport.api.pages import install as install_pages
from rapport.api.reload import Reloader, RulesHolder, install_sighup
from rapport.api.routes import alerts, clients, ops, rules, signals
from rapport.api.service import ClientMetricsPage, Evaluator, Service
from rapport.api.settings import Settings
from rapport.engine.errors import RapportError, RulesError, UnknownClientError
from rapport.signals.collector_state import RunRecord
from rapport.signals.collectors.config import CollectorsConfig
from rapport.signals.collectors.runner import RunObserver
from rapport.signals.collectors.schedule import CollectorService
from rapport.signals.memory import SignalMemory
from rapport.signals.model import SIGNAL_TAGS
from rapport.signals.store import Store, StoreError

log = logging.getLogger("rapport.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def build_service(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None
) -> Service:
    """The whole service for ``settings``, not yet started. Opens the store at
    ``settings.database_url`` unless one is given (an injected store is not closed at shutdown);
    ``clock`` is the only source of "now" for the evaluator, the reloads and the collectors.
    Raises ``InsecureBindError`` for an open (tokenless) configuration on a non-loopback host
    (before opening anything), ``StoreError`` for an unreachable store."""
    check_exposure(settings.host, settings.tokens)
    owned = store is None
    store = store if store is not None else Store.open(settings.database_url)
    now = clock or utc_now
    metrics = ServiceMetrics()
    holder = RulesHolder(
        settings.rules_dir, metrics=metrics, clock=now, max_bytes=settings.max_rules_bytes
    )
    # Configured from the rules bundle when it loads (and again on every successful reload).
    collectors = CollectorService(
        store, CollectorsConfig(), clock=now, observer=CollectorRunMetrics(metrics)
    )
    events: Topic[Evaluated] = Topic("evaluated")
    page = ClientMetricsPage(
        detail=settings.metrics_detail,
        open_incidents=lambda as_of: store.open_by_attr("incident", "severity", as_of),
    )
    retention, epsilon = settings.history_retention, settings.history_epsilon
    events.subscribe(HistoryWriter(store, retention=retention, epsilon=epsilon))
    events.subscribe(page)
    events.subscribe(EvaluationLog())
    evaluator = Evaluator(
        store,
        holder,
        metrics,
        events,
        clock=now,
        stale=collectors.stale,
        covered=collectors.covered,
        debounce=settings.evaluate_debounce,
        interval=settings.evaluate_interval,
        # The signal arrays stay in memory, kept current by the store's change feed.
        memory=SignalMemory(store),
    )
    # After each evaluation: its alert transitions become explained, routed notices in the
    # outbox; the sender delivers them in the background, while this process is the leader.
    notifications = notification_service(settings, store, clock=now, registry=metrics.registry)
    dispatch = AlertDispatch(
        notifications,
        store_explainer(store, evaluator.evaluate_client),
        lambda client_id: links_for(settings, client_id),
    )
    # After the history writer: alert states and notices are persisted with each evaluation.
    events.subscribe(
        AlertEvaluator(
            store, holder.current, lambda r, s: metrics.set_alerts(counts(r, s)), dispatch
        )
    )
    return Service(
        settings,
        store,
        holder,
        evaluator,
        metrics,
        events,
        page,
        collectors,
        now,
        owned,
        notifications=notifications,
    )


def create_app(service: Service) -> FastAPI:
    """A ready-to-serve app for a built (started or not) ``service``."""
    settings = service.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()  # no-op when `serve` already started it (to report bad rules nicely)
        watched = settings.rules_dir if settings.watch_rules else None
        reloader = Reloader(service.rules.reload, watched)
        reloader.start()
        install_sighup(reloader)
        service.add_stopper(reloader.stop)
        try:
            yield
        finally:
            service.stop()
            if service.owns_store:
                service.store.close()

    app = FastAPI(
        title="Rapport",
        version=_version(),
        description="Client-relationship health scores: read them, push signals, manage rules.",
        lifespan=lifespan,
        docs_url=None,  # served by _add_docs from installed files, not from a CDN
        redoc_url=None,
    )
    _add_docs(app)
    app.state.settings = settings
    app.state.service = service
    app.state.authenticator = Authenticator(settings.tokens)
    app.state.idempotency = IdempotencyKeys(service.store)
    _add_error_handlers(app)
    for module in (clients, signals, rules, ops, alerts):
        app.include_router(module.router)
    install_pages(app, settings)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


#: Where /docs and /redoc load Swagger UI's and ReDoc's files from: this server, never a CDN, so
#: that the pages work on an air-gapped network. The files are the fastapi-offline package's.
DOCS_ASSETS = "/-/docs-assets"


def _docs_assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def _add_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with every asset served same-origin."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_docs_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url=oauth2_redirect,
            # Swagger UI's default validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API reference",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


class CollectorRunMetrics(RunObserver):
    """Feeds each finished collector run into the service's Prometheus counters."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def finished(self, record: RunRecord) -> None:
        self.metrics.observe_collector_run(
            record.collector, ok=record.ok, items=record.items, finished_at=record.finished_at
        )


def _version() -> str:
    try:
        return version("rapport")
    except PackageNotFoundError:
        return "0"


# --- errors as JSON ----------------------------------------------------------------------------


def _reason(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"reason": reason}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return _reason(error.status_code, str(error), dict(error.headers))

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        return JSONResponse({"reason": summarize(problems), "detail": problems}, status_code=422)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return _reason(error.status_code, str(error.detail), dict(error.headers or {}))

    async def rapport_error(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, StoreError):
            return _reason(503, str(error))
        if isinstance(error, UnknownClientError):
            return _reason(404, str(error))
        if isinstance(error, RulesError):
            return _reason(422, str(error))
        return _reason(400, str(error))

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _reason(500, "internal error; the server log has the details")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RapportError, rapport_error)
    app.add_exception_handler(Exception, unexpected)


def summarize(problems: list[dict[str, Any]], shown: int = 5) -> str:
    """``signals[3].value: Input should be a valid number; …`` from validation problems."""
    parts = []
    for problem in problems[:shown]:
        parts.append(f"{_dotted(problem['loc'])}: {problem['msg']}")
    more = len(problems) - shown
    if more > 0:
        parts.append(f"… and {more} more")
    return "; ".join(parts) or "invalid request"


def _dotted(loc: list[Any]) -> str:
    """``['body', 'signals', 3, 'survey', 'value']`` → ``signals[3].value`` (union tags dropped)."""
    out = ""
    previous: Any = None
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(previous, int) and part in SIGNAL_TAGS:
            pass  # which union member was tried, not a key of the data
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or (str(loc[0]) if loc else "body")


# --- request body limit ------------------------------------------------------------------------


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413: at once when Content-Length says so,
    and while reading when a chunked body grows past it (before it is all in memory)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            response = _reason(413, str(PayloadTooLargeError(self.limit)), {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # FastAPI re-raises HTTPException from body reading; the handler renders it.
                    raise HTTPException(413, str(PayloadTooLargeError(self.limit)))
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
