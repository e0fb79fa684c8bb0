"""``rapport validate``: how well the scores, as known back then, foresaw the outcomes the store
holds (churn at renewals, escalations), and with ``--suggest`` a better set of weights.

It prints the report (table, markdown, JSON or HTML) and always writes the HTML report, with its
charts, to ``RAPPORT_VALIDATION_REPORT`` (``data/validation.html``; ``--html`` elsewhere), which
``rapport serve`` shows at ``/validation`` and the portfolio page links. Needs the ``validate``
extra (``pip install 'rapport[validate]'``). Only typer and the standard library are imported at
the top (see ``rapport.api.cli``).
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rapport.api.exit_codes import BadChoiceError, UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from rapport.api.validation.rules_source import Rules
    from rapport.api.validation.run import Book
    from rapport.signals.store import Store

FORMATS = ("table", "json", "markdown", "html")


class MissingExtraError(UsageError):
    def __init__(self, module: str) -> None:
        super().__init__(
            f"rapport validate needs the validate extra ({module} is not installed): "
            "pip install 'rapport[validate]'"
        )


class BadHorizonError(UsageError):
    def __init__(self, text: str) -> None:
        super().__init__(f"--horizons {text!r}: expected durations such as 30d,60d,90d")


class NoOutcomesError(UsageError):
    def __init__(self, outcome: str, found: dict[str, int], known: tuple[str, ...]) -> None:
        have = ", ".join(f"{k} ({v})" for k, v in found.items()) or "none at all"
        undeclared = (
            ""
            if outcome in known
            else f"; {outcome!r} is neither built in nor declared under signals: outcome: types:"
        )
        super().__init__(
            f"no {outcome!r} outcomes to validate against (the store has {have}){undeclared}; "
            "import them: rapport import outcomes.csv (see README, Validating the score)"
        )


def parse_horizons(text: str) -> list[float]:
    """``"30d,60d"`` → seconds, in the order given; a bad entry is a usage error."""
    from rapport.engine.model import parse_duration

    try:
        found = [parse_duration(part.strip()) for part in text.split(",")]
    except ValueError:
        raise BadHorizonError(text) from None
    return found


def _require_extra() -> None:
    import importlib.util

    for module in ("scipy", "sklearn", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(module)


def validate_command(
    ctx: typer.Context,
    *,
    horizons: Annotated[
        str, typer.Option(help="How long before the outcome to read the score (comma-separated).")
    ] = "30d,60d,90d",
    outcome: Annotated[
        str, typer.Option(help="churned (at renewals), escalated, or your own outcome type.")
    ] = "churned",
    rules: Annotated[
        str | None,
        typer.Option(
            help="Replay with these rules: a directory or a git revision (default: --rules-dir)."
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="First outcome considered (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Last outcome considered (ISO 8601).")] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, markdown or html.")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here (default: stdout).")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Where the HTML report goes (env RAPPORT_VALIDATION_REPORT)."),
    ] = None,
    suggest: Annotated[
        bool, typer.Option(help="Fit weights on an earlier period, check them on the next.")
    ] = False,
) -> None:
    """How well past scores foresaw churn or escalations: AUC, outcome rate per grade,
    calibration, components, segments; writes the HTML report too. Never changes the rules."""
    if output_format not in FORMATS:
        raise BadChoiceError("--format", output_format, FORMATS)
    spans = parse_horizons(horizons)
    _require_extra()
    from rapport.api.cli import open_store, parse_instant, settings_of
    from rapport.api.validation.rules_source import rules_for

    settings = settings_of(ctx)
    loaded = rules_for(rules, settings.rules_dir, max_bytes=settings.max_rules_bytes)
    first = None if since is None else parse_instant(since)
    last = None if until is None else parse_instant(until)
    with open_store(settings) as store:
        text = _run(
            store,
            loaded,
            outcome,
            spans,
            (first, last),
            output_format=output_format,
            suggest=suggest,
        )
    target = html or settings.validation_report
    _write(target, text.html)
    typer.echo(f"wrote {target}", err=True)
    if output is None:
        typer.echo(text.main, nl=False)
    else:
        _write(output, text.main)
        typer.echo(f"wrote {output}", err=True)


class _Texts:
    def __init__(self, main: str, html: str) -> None:
        self.main, self.html = main, html


def _run(
    store: Store,
    loaded: Rules,
    outcome: str,
    spans: list[float],
    period: tuple[datetime | None, datetime | None],
    *,
    output_format: str,
    suggest: bool,
) -> _Texts:
    from rapport.api.pipeline import sync_registry
    from rapport.api.validation import charts, render
    from rapport.api.validation.run import Book, validate_book
    from rapport.engine.outcome_samples import outcome_types

    sync_registry(store, loaded.bundle.clients)  # as `rapport score` does: clients.yaml rules
    clients = store.client_set()
    signals = store.signal_set(clients)  # every signal: the replay applies visibility per instant
    found = outcome_types(signals)
    wanted = ("renewed", "churned") if outcome == "churned" else (outcome,)
    if not any(found.get(t) for t in wanted):
        raise NoOutcomesError(outcome, found, loaded.bundle.scorecard.outcome_types())
    book = Book(loaded.bundle.scorecard, loaded.bundle.version, clients, signals)
    report = validate_book(book, outcome=outcome, horizons=spans, since=period[0], until=period[1])
    extra = _suggestion(book, loaded, outcome, spans[0], period) if suggest else ""
    page = charts.render_html(report)
    renderers = {
        "table": render.render_table,
        "markdown": render.render_markdown,
        "json": render.render_json,
        "html": charts.render_html,
    }
    main = page if output_format == "html" else renderers[output_format](report)
    if extra and output_format in ("table", "markdown"):
        main += "\n" + extra
    return _Texts(main, page)


def _suggestion(
    book: Book,
    loaded: Rules,
    outcome: str,
    horizon: float,
    period: tuple[datetime | None, datetime | None],
) -> str:
    from rapport.api.validation.candidates import suggestion

    return suggestion(book, loaded.scorecard_text, outcome, horizon, period)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the ``rapport`` command line."""
    app.command("validate")(validate_command)
