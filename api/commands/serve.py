"""``rapport serve``: the API, ``/metrics``, the evaluator and the rules watcher in one process.

Order matters for a friendly failure: settings are validated, the store opened and the rules
loaded and scored *before* uvicorn starts, so a bad value, an unreachable database or a broken
scorecard is one clear message and an exit code (``rapport.api.exit_codes``), never a
half-started server. Only typer and the standard library are imported at the top (see
``rapport.api.cli``): FastAPI, uvicorn and the store load when ``serve`` runs.
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rapport.api.exit_codes import RapportGroup
from rapport.engine.errors import RapportError

if TYPE_CHECKING:
    from datetime import datetime

    from rapport.api.service import Service
    from rapport.api.settings import Settings
    from rapport.engine.loader import Ruleset
    from rapport.signals.store import Store


def global_options(ctx: typer.Context) -> dict[str, Any]:
    """The global ``--database-url``/``--rules-dir`` as given on the command line (None if not),
    so that they override the config file while unset ones do not."""
    params = ctx.find_root().params
    return {k: params.get(k) for k in ("database_url", "rules_dir")}


def serve(
    ctx: typer.Context,
    *,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (env RAPPORT_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind (env RAPPORT_PORT; default 8000; 0 = any).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML config file (env RAPPORT_CONFIG_FILE).")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Seed the demo clients and signals when the store has none.")
    ] = False,
    watch: Annotated[
        bool | None, typer.Option(help="Reload rules when their files change (default on).")
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option(help="Log one line per HTTP request (env RAPPORT_ACCESS_LOG; default off)."),
    ] = None,
) -> None:
    """Serve the HTTP API, /metrics and live re-scoring until interrupted."""
    from rapport.api.settings import load_settings

    settings = load_settings(
        **global_options(ctx),
        host=host,
        port=port,
        config_file=config,
        watch_rules=watch,
        access_log=access_log,
    )
    run(settings, demo=demo)


def run(settings: Settings, *, demo: bool = False) -> None:
    """Build, start and serve; returns when uvicorn stops (SIGINT/SIGTERM)."""
    import uvicorn

    from rapport.api.app import build_service, create_app
    from rapport.api.notify.wiring import email_destination

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    service = build_service(settings)
    sock = bind(settings.host, settings.port)  # before starting anything: a busy port fails fast
    if demo:
        seed_demo(service)
    service.start()
    app = create_app(service)
    address = _url(sock)
    bundle = service.rules.current()
    print(
        f"Rapport serving on {address}\n"
        f"  API docs  {address}/docs   metrics {address}/metrics   ready {address}/-/ready\n"
        f"  rules     {bundle.directory} ({bundle.version})\n"
        f"  store     {service.store.url}\n"
        f"  alerts    emailed {email_destination(settings)}",
        flush=True,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="info", access_log=settings.access_log, timeout_graceful_shutdown=10
        )
    )
    server.run(sockets=[sock])


def seed_demo(service: Service) -> None:
    """The demo clients (the rules bundle's ``clients.yaml``) and 180 days of their signals,
    ending at the service clock's now — only when the store holds no signal yet. Raises
    ``RulesError`` when the rules directory does not load."""
    from rapport.api.bundle import load_bundle
    from rapport.api.pipeline import sync_registry
    from rapport.signals.demo import demo_signals

    store = service.store
    if store.signal_count() > 0:
        return
    bundle = load_bundle(service.settings.rules_dir, max_bytes=service.settings.max_rules_bytes)
    sync_registry(store, bundle.clients)
    now = service.clock()
    store.upsert_signals(demo_signals(store.clients(), end=now))
    seed_demo_history(store, bundle.ruleset, now)


def seed_demo_history(store: Store, ruleset: Ruleset, end: datetime) -> int:
    """Replay the demo's score history: one stored evaluation per day of its 180 days before
    ``end`` (``signals.demo.history_instants``), each as of its day, so that trends and 7d/30d
    deltas show on the first run. Returns how many evaluations were stored."""
    from rapport.api.pipeline import evaluate_store
    from rapport.signals.demo import history_instants

    instants = history_instants(end)
    for moment in instants:
        evaluate_store(store, ruleset, moment)
    return len(instants)


class BindError(RapportError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one (printed in the banner)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        raise BindError(host, port, error.strerror or str(error)) from None
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``rapport`` command line."""
    app.command("serve")(serve)


if (
    __name__ == "__main__"
):  # `python -m rapport.api.commands.serve`: the same command without api.cli
    standalone = typer.Typer(
        cls=RapportGroup,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )

    @standalone.callback()
    def _options(database_url: str | None = None, rules_dir: Path | None = None) -> None:
        """Global options, as ``rapport`` has them."""

    register(standalone)
    standalone(args=["serve", *sys.argv[1:]] if sys.argv[1:2] != ["serve"] else sys.argv[1:])
