"""``rapport alerts``: list pending and firing alerts, preview what would fire as of an instant
(nothing is sent or stored), and manage silences (``silence``, ``silences``, ``unsilence``).

Top-level imports stay light (typer only): this module is imported to build ``rapport --help``.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

from typing import Annotated

import typer

alerts_app = typer.Typer(help="Alerts: what fires, what would, and silences.", no_args_is_help=True)


@alerts_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Every pending or firing alert, as stored by the last evaluation of `rapport serve`."""
    from rapport.api.cli import open_store, settings_of
    from rapport.signals.alerts import load_states

    with open_store(settings_of(ctx)) as store:
        states = load_states(store)
    for s in states:
        since = (s.fired_at or s.active_since).isoformat()
        muted = "  silenced" if s.muted else ""
        typer.echo(f"{s.phase:<8} {s.rule:<20} {s.client:<28} since {since}{muted}")
    if not states:
        typer.echo("no alert is pending or firing")


@alerts_app.command("preview")
def preview_command(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO 8601; default now.")] = None,
    output: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """What the alert rules would notify as of --as-of, from the stored alert states; sends and
    stores nothing."""
    import json

    from rapport.api.alerts import preview
    from rapport.api.cli import bundle_of, open_store, parse_instant, settings_of, source_kinds
    from rapport.api.pipeline import evaluate_store

    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    bundle = bundle_of(settings)
    with open_store(settings) as store:
        stale, covered = source_kinds(store, bundle, moment)
        evaluation = evaluate_store(
            store, bundle.ruleset, moment, stale=stale, covered=covered, persist=False
        )
        clients = {c.id: c for c in store.clients()}
        rows = tuple(clients[cid] for cid in evaluation.clients.ids)
        _, transitions = preview(store, bundle, evaluation, rows)
    if output == "json":
        items = [
            {"rule": t.rule, "client": t.client, "kind": t.kind, "severity": t.severity,
             "episode": t.episode, "value": t.value, "threshold": t.threshold,
             "silenced": t.silenced, "dedupe_key": t.dedupe_key}
            for t in transitions
        ]  # fmt: skip
        typer.echo(json.dumps({"as_of": moment.isoformat(), "transitions": items}, indent=2))
        return
    for t in transitions:
        value = "-" if t.value is None else f"{t.value:g}"
        muted = "  (silenced)" if t.silenced else ""
        typer.echo(
            f"{t.kind:<8} {t.severity:<8} {t.rule:<20} {t.client:<28} {value}"
            f" vs {t.threshold:g}{muted}"
        )
    if not transitions:
        typer.echo(f"nothing would be notified as of {moment.isoformat()}")


@alerts_app.command("silence")
def silence_command(  # noqa: PLR0917 (typer reads the options from the signature)
    ctx: typer.Context,
    client: Annotated[str, typer.Argument(help="The client id to silence.")],
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 7d or 12h.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the silence).")],
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    author: Annotated[str, typer.Option("--author", help="Who silences.")] = "cli",
) -> None:
    """Silence a client's alerts (of one --rule) from now --for a while."""
    from datetime import UTC, datetime, timedelta

    from rapport.api.cli import open_store, settings_of
    from rapport.engine.model import parse_duration
    from rapport.signals.alerts import NewSilence, add_silence

    try:
        seconds = parse_duration(duration)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--for") from None
    now = datetime.now(UTC)
    with open_store(settings_of(ctx)) as store:
        new = NewSilence(client, rule, {}, reason, author)
        silence = add_silence(store, new, now, now + timedelta(seconds=seconds))
    typer.echo(f"silence {silence.id}: until {silence.expires.isoformat()}")


@alerts_app.command("silences")
def silences_command(ctx: typer.Context) -> None:
    """Every silence, active or expired."""
    from datetime import UTC, datetime

    from rapport.api.cli import open_store, settings_of
    from rapport.signals.alerts import list_silences

    now = datetime.now(UTC)
    with open_store(settings_of(ctx)) as store:
        found = list_silences(store)
    for s in found:
        state = "active " if s.active(now) else "expired"
        what = " ".join(f"{k}={v}" for k, v in (("client", s.client), ("rule", s.rule)) if v)
        labels = " ".join(f"{k}={v}" for k, v in s.labels.items())
        typer.echo(
            f"{s.id}  {state}  until {s.expires.isoformat()}  {what} {labels}  by {s.author}:"
            f" {s.reason}"
        )
    if not found:
        typer.echo("no silences")


@alerts_app.command("unsilence")
def unsilence_command(ctx: typer.Context, silence_id: str) -> None:
    """End a silence now."""
    from datetime import UTC, datetime

    from rapport.api.cli import open_store, settings_of
    from rapport.signals.alerts import expire_silence

    with open_store(settings_of(ctx)) as store:
        expire_silence(store, silence_id, datetime.now(UTC))
    typer.echo(f"silence {silence_id} ended")


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to the ``rapport`` command line."""
    app.add_typer(alerts_app, name="alerts")
