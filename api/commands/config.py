"""``rapport config show``: the effective configuration, every source applied, secrets masked."""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rapport.api.commands.serve import global_options
from rapport.api.exit_codes import BadChoiceError

config_app = typer.Typer(
    help="Inspect Rapport's configuration.", no_args_is_help=True, rich_markup_mode=None
)


@config_app.command("show")
def show(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="YAML config file (env RAPPORT_CONFIG_FILE).")
    ] = None,
    output: Annotated[str, typer.Option("--format", "-f", help="yaml or json.")] = "yaml",
) -> None:
    """Print the configuration Rapport would run with (defaults < file < env < secrets < flags)."""
    if output not in ("yaml", "json"):
        raise BadChoiceError("--format", output, ("yaml", "json"))
    import yaml

    from rapport.api.settings import load_settings, masked_settings

    settings = load_settings(**global_options(ctx), config_file=config)
    data = masked_settings(settings)
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


def register(app: typer.Typer) -> None:
    """Add ``config show`` to the ``rapport`` command line."""
    app.add_typer(config_app, name="config")
