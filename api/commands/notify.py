"""``rapport notify outbox|retry|test-email``: look at the notification outbox, retry what failed,
send a test email. (They join ``rapport alerts`` when the alert commands land.)

``outbox`` lists entries (``--state`` to filter), ``retry`` puts failed entries (all, or the keys
given) back to pending, ``test-email ADDR`` renders a sample alert and sends it at once through
the configured email channel (SMTP, or an ``.eml`` file), bypassing the outbox; it exits 2 with
the reason when the address is invalid or the server refuses.

Only typer and the standard library are imported at the top (see ``rapport.api.cli``).
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from rapport.api.output import lazy_console

out = lazy_console()

notify_app = typer.Typer(
    help="The notification outbox: list, retry, test.", no_args_is_help=True, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    """Add ``notify`` to the ``rapport`` command line."""
    app.add_typer(notify_app, name="notify")


@notify_app.command("outbox")
def outbox_command(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="Only entries in this state: pending, sent or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest first.")] = 100,
) -> None:
    """List outbox entries: state, attempts, next attempt and last error."""
    from rich.table import Table

    from rapport.signals import outbox
    from rapport.signals.store import Store

    if state is not None and state not in outbox.STATES:
        raise typer.BadParameter(f"must be one of {', '.join(outbox.STATES)}", param_hint="--state")
    with Store.open(ctx.obj.database_url) as store:
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


@notify_app.command("retry")
def retry_command(
    ctx: typer.Context,
    keys: Annotated[
        list[str] | None, typer.Argument(help="Entry keys (default: every failed one).")
    ] = None,
) -> None:
    """Put failed outbox entries back to pending, due now."""
    from rapport.signals import outbox
    from rapport.signals.store import Store

    with Store.open(ctx.obj.database_url) as store:
        count = outbox.retry_failed(store, now=datetime.now(UTC).timestamp(), keys=keys or None)
    out.print(f"{count} failed entr{'y' if count == 1 else 'ies'} queued again")


@notify_app.command("test-email")
def test_email_command(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Where to send the test email.")],
    locale: Annotated[str, typer.Option(help="Language of the email: en or zh-CN.")] = "en",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the dates shown.")] = "UTC",
) -> None:
    """Send a sample alert email to ADDRESS now, through the configured email channel."""
    from rapport.api.notify.headers import checked_address
    from rapport.api.notify.notice import Recipient
    from rapport.api.notify.samples import sample_notice
    from rapport.api.notify.wiring import links_for, notification_service
    from rapport.signals.store import Store

    settings = ctx.obj
    recipient = Recipient(
        name=address, email=checked_address(address), locale=locale, timezone=timezone
    )
    now = datetime.now(UTC)
    notice = sample_notice(now, links_for(settings, "northwind"))
    with Store.open(settings.database_url) as store:
        service = notification_service(settings, store)
        service.send_now(notice, recipient)
    where = (settings.smtp_url and "via SMTP") or f"as a file under {settings.outbox_dir}/"
    out.print(f"test email sent to {recipient.email} {where}")
