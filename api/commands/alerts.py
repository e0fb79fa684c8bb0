"""``rapport alerts``: list pending and firing alerts, preview what would fire as of an instant
(nothing is sent or stored; ``--format eml`` shows the emails), manage silences (``silence``,
``silences``, ``unsilence``) and the notification outbox (``outbox``, ``retry``, ``test-email``).

``outbox`` lists entries (``--state`` to filter), ``retry`` puts failed entries (all, or the keys
given) back to pending, ``test-email ADDR`` renders a sample alert and sends it at once through
the configured email channel (SMTP, or an ``.eml`` file), bypassing the outbox; it exits 2 with
the reason when the address is invalid or the server refuses.

Top-level imports stay light (typer only): this module is imported to build ``rapport --help``.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from rapport.api.output import lazy_console

if TYPE_CHECKING:
    from rapport.api.bundle import RulesBundle
    from rapport.api.pipeline import ClientEvaluation
    from rapport.api.settings import Settings
    from rapport.engine.alerts import AlertTransition
    from rapport.engine.result import Evaluation
    from rapport.signals.model import Client
    from rapport.signals.store import Store

out = lazy_console()

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
    output: Annotated[
        str, typer.Option("--format", "-f", help="text, json or eml (the emails, as an mbox).")
    ] = "text",
) -> None:
    """What the alert rules would notify as of --as-of, from the stored alert states; sends and
    stores nothing. --format eml prints the emails that would be sent, as an mbox."""
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
        if output == "eml":
            _print_emails(settings, store, bundle, evaluation, transitions, clients)
            return
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


def _print_emails(  # noqa: PLR0917 (the preview's state, passed on)
    settings: Settings,
    store: Store,
    bundle: RulesBundle,
    evaluation: Evaluation,
    transitions: list[AlertTransition],
    clients: dict[str, Client],
) -> None:
    """The emails ``transitions`` would send, each recipient's, as an mbox on stdout: the same
    routing, explanations and templates as the service, nothing written or sent."""
    import sys
    from email.generator import BytesGenerator

    from rapport.api.cli import source_kinds
    from rapport.api.notify.base import Envelope
    from rapport.api.notify.dispatch import notices_for, store_explainer
    from rapport.api.notify.render import Composer, Renderer
    from rapport.api.notify.wiring import links_for
    from rapport.api.pipeline import evaluate_client
    from rapport.engine.alert_rules import NO_ALERTS

    stale, covered = source_kinds(store, bundle, evaluation.as_of)

    def evaluate(client: Client, as_of: datetime) -> ClientEvaluation:
        return evaluate_client(store, bundle.ruleset, client, as_of, stale=stale, covered=covered)

    explainer = store_explainer(store, evaluate)
    notices = notices_for(
        bundle.alerts or NO_ALERTS,
        clients,
        transitions,
        explainer,
        lambda cid: links_for(settings, cid),
    )
    composer = Composer(Renderer(settings.rules_dir), settings.smtp_from, lambda: evaluation.as_of)
    stream = sys.stdout.buffer
    for notice in notices:
        for recipient in notice.recipients:
            envelope = Envelope(f"preview|{notice.dedupe_key}", recipient, [notice])
            stream.write(f"From rapport {evaluation.as_of:%a %b %d %H:%M:%S %Y}\n".encode())
            BytesGenerator(stream, mangle_from_=True).flatten(composer.compose(envelope))
            stream.write(b"\n")
    stream.flush()


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


@alerts_app.command("outbox")
def outbox_command(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="Only entries in this state: pending, sent or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest first.")] = 100,
) -> None:
    """List outbox entries: state, attempts, next attempt and last error."""
    from rich.table import Table

    from rapport.api.cli import open_store, settings_of
    from rapport.signals import outbox

    if state is not None and state not in outbox.STATES:
        raise typer.BadParameter(f"must be one of {', '.join(outbox.STATES)}", param_hint="--state")
    with open_store(settings_of(ctx)) as store:
        rows = outbox.entries(store, state, limit=limit)
        counted = outbox.counts(store)
    table = Table(title="Outbox " + ", ".join(f"{k}: {v}" for k, v in counted.items()))
    for name in ("state", "channel", "recipient", "attempts", "next attempt", "key", "last error"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row.state,
            row.channel,
            row.recipient,
            str(row.attempts),
            datetime.fromtimestamp(row.next_attempt, UTC).isoformat(timespec="seconds"),
            row.key,
            row.last_error or "",
        )
    out.print(table)


@alerts_app.command("retry")
def retry_command(
    ctx: typer.Context,
    keys: Annotated[
        list[str] | None, typer.Argument(help="Entry keys (default: every failed one).")
    ] = None,
) -> None:
    """Put failed outbox entries back to pending, due now."""
    from rapport.api.cli import open_store, settings_of
    from rapport.signals import outbox

    with open_store(settings_of(ctx)) as store:
        count = outbox.retry_failed(store, now=datetime.now(UTC).timestamp(), keys=keys or None)
    out.print(f"{count} failed entr{'y' if count == 1 else 'ies'} queued again")


@alerts_app.command("test-email")
def test_email_command(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Where to send the test email.")],
    locale: Annotated[str, typer.Option(help="Language of the email: en or zh-CN.")] = "en",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the dates shown.")] = "UTC",
) -> None:
    """Send a sample alert email to ADDRESS now, through the configured email channel."""
    from rapport.api.cli import open_store, settings_of
    from rapport.api.notify.headers import checked_address
    from rapport.api.notify.notice import Recipient
    from rapport.api.notify.samples import sample_notice
    from rapport.api.notify.wiring import links_for, notification_service

    settings = settings_of(ctx)
    recipient = Recipient(
        name=address, email=checked_address(address), locale=locale, timezone=timezone
    )
    now = datetime.now(UTC)
    notice = sample_notice(now, links_for(settings, "northwind"))
    with open_store(settings) as store:
        service = notification_service(settings, store)
        service.send_now(notice, recipient)
    where = (settings.smtp_url and "via SMTP") or f"as a file under {settings.outbox_dir}/"
    out.print(f"test email sent to {recipient.email} {where}")


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to the ``rapport`` command line."""
    app.add_typer(alerts_app, name="alerts")
