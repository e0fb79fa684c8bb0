"""``rapport rules schema``: the JSON Schema of every rules file (``api.rules_schema``), for
editors. Without ``--file``, one JSON object holding every kind's schema by kind; with
``--file scorecard|clients|collectors|alerts|tests``, that kind's schema alone; with ``--out DIR``,
each kind written to ``DIR/<kind>.json`` (the shipped rules keep theirs in ``rules/.schema``).

Top-level imports stay light (typer only): this module is imported to build ``rapport --help``.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rapport.api.exit_codes import BadChoiceError

KINDS = ("scorecard", "clients", "collectors", "alerts", "tests")


def schema_command(
    file: Annotated[
        str | None,
        typer.Option("--file", help="scorecard, clients, collectors, alerts or tests."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write DIR/<kind>.json for every kind.")
    ] = None,
) -> None:
    """Print the JSON Schema of the rules files (for yaml-language-server and other editors)."""
    from rapport.api.rules_schema import all_schemas, render, rules_schema, write_schemas

    if out is not None:
        for path in write_schemas(out):
            typer.echo(f"wrote {path}")
        return
    if file is None:
        typer.echo(render(all_schemas()), nl=False)
        return
    if file not in KINDS:
        raise BadChoiceError("--file", file, KINDS)
    typer.echo(render(rules_schema(file)), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``schema`` to ``rapport rules``."""
    from rapport.api.cli import rules_app

    rules_app.command("schema")(schema_command)
