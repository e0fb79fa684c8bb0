"""``rapport export prometheus-rules``: the alert rules as Prometheus alerting rules (what PromQL
can express; see ``rapport.api.prometheus_rules``), to stdout or ``--output FILE``.

Only typer and the standard library are imported at the top (see ``rapport.api.cli``).
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

export_app = typer.Typer(
    help="Export Rapport's rules for other tools.", no_args_is_help=True, rich_markup_mode=None
)


@export_app.command("prometheus-rules")
def prometheus_rules_command(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """alerts.yaml as Prometheus alerting rules, for routing through Alertmanager; conditions
    PromQL cannot express (hysteresis, staleness) are left out with a comment saying so."""
    from rapport.api.cli import bundle_of, settings_of
    from rapport.api.prometheus_rules import prometheus_rules
    from rapport.engine.alert_rules import NO_ALERTS

    bundle = bundle_of(settings_of(ctx))
    text = prometheus_rules(bundle.alerts or NO_ALERTS, bundle.scorecard, version=bundle.version)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``rapport`` command line."""
    app.add_typer(export_app, name="export")
