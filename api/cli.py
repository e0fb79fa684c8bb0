"""The ``rapport`` command line. Exit codes: 0 ok, 1 a finding (invalid rules, a failed rule test,
rejected import rows), 2 a usage or environment error. A user's mistake never prints a traceback."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from rapport.api.bundle import RulesBundle, check_bundle, load_bundle
from rapport.api.commands import collect, config, init, serve
from rapport.api.output import render_history, render_scores
from rapport.api.pipeline import evaluate_store, sync_registry
from rapport.api.rule_tests import run_cases
from rapport.api.settings import Settings, load_settings
from rapport.engine.errors import FindingsError, RapportError
from rapport.engine.explain import explain, render_explanation
from rapport.engine.kinds import known_kinds
from rapport.signals.collectors.runner import stale_kinds as collector_stale_kinds
from rapport.signals.demo import demo_signals
from rapport.signals.importer import import_files
from rapport.signals.store import Store

app = typer.Typer(
    name="rapport",
    help="Rapport: which client relationships are healthy, and which are slipping.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Check and test the rules directory.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FINDING = 1
EXIT_ENVIRONMENT = 2

OutputFormat = Literal["table", "json", "csv"]


@app.callback()
def configure(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Store URL (env RAPPORT_DATABASE_URL; default sqlite:///data/rapport.db)."
        ),
    ] = None,
    rules_dir: Annotated[
        Path | None, typer.Option(help="Rules directory (env RAPPORT_RULES_DIR; default ./rules).")
    ] = None,
) -> None:
    """Global options; every command reads its configuration from here."""
    with reported_errors():
        ctx.obj = load_settings(database_url=database_url, rules_dir=rules_dir)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn Rapport's own errors into a message and an exit code instead of a traceback."""
    try:
        yield
    except FindingsError as error:
        err.print(str(error), markup=False)
        raise typer.Exit(EXIT_FINDING) from None
    except RapportError as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_ENVIRONMENT) from None


def fail(message: str, code: int = EXIT_ENVIRONMENT) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings), "configure() runs before every command"
    return settings


def parse_instant(text: str | None) -> datetime:
    """``--as-of``: ISO 8601 date or date-time (naive = UTC); None = now."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--as-of {text!r} is not an ISO 8601 date or date-time (e.g. 2026-06-30T12:00:00Z)")
    if len(text) == 10:  # a bare date: the end of that day, like a milestone's due date
        moment = datetime.combine(date.fromisoformat(text), datetime.max.time())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


AsOf = Annotated[
    str | None, typer.Option("--as-of", help="Evaluate as of this instant (ISO 8601; default now).")
]
Format = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]


def open_store(settings: Settings) -> Store:
    return Store.open(settings.database_url)


def bundle_of(settings: Settings) -> RulesBundle:
    """The rules bundle of ``--rules-dir``; raises ``RulesError`` with every finding."""
    return load_bundle(settings.rules_dir)


# --- rules ----------------------------------------------------------------------------------------


@rules_app.command("check")
def rules_check(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Rules directory (default: --rules-dir).")
    ] = None,
) -> None:
    """Validate every file of a rules directory; print all problems as path:line:col."""
    target = directory or settings_of(ctx).rules_dir
    with reported_errors():
        bundle, findings = check_bundle(target)
        if bundle is None:
            for finding in sorted(findings):
                out.print(str(finding), markup=False)
            noun = "problem" if len(findings) == 1 else "problems"
            err.print(f"{len(findings)} {noun} in {target}", markup=False)
            raise typer.Exit(EXIT_FINDING)
    out.print(f"{target}: rules OK (version {bundle.version})", markup=False)


@rules_app.command("test")
def rules_test(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Rules directory (default: --rules-dir).")
    ] = None,
) -> None:
    """Run the rule tests in DIR/tests/*.yaml against DIR's scorecard; print a diff per failure."""
    target = directory or settings_of(ctx).rules_dir
    with reported_errors():
        bundle = load_bundle(target)
        report = run_cases(bundle.rule_tests, bundle.scorecard)
    out.print(report.render(), markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_FINDING)


# --- data -----------------------------------------------------------------------------------------


@app.command("import")
def import_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="CSV or JSONL files of signals or clients.")],
    kind: Annotated[str, typer.Option(help="auto, signals or clients.")] = "auto",
) -> None:
    """Import signals or clients from CSV/JSONL files: all rows or, if any row is bad, none."""
    if kind not in ("auto", "signals", "clients"):
        fail(f"--kind must be auto, signals or clients, not {kind!r}")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        fail(f"no such file: {', '.join(missing)}")
    settings = settings_of(ctx)
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with reported_errors():
        bundle = bundle_of(settings)  # the kinds its scorecard reads, its clients and time zones
        with open_store(settings) as store, Progress(*columns, console=err) as bar:
            task = bar.add_task("importing", total=sum(f.stat().st_size for f in files))
            report = import_files(
                store,
                files,
                kind=kind,  # type: ignore[arg-type]
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                known_kinds=known_kinds(bundle.scorecard.signals),
                registry=bundle.clients or (),
            )
    out.print(report.summary(), markup=False)


@app.command("score")
def score_command(ctx: typer.Context, as_of: AsOf = None, output: Format = "table") -> None:
    """Evaluate every client, store the scores in history, and print them."""
    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    with reported_errors():
        bundle = bundle_of(settings)
        with open_store(settings) as store:
            sync_registry(store, bundle.clients)
            evaluation = evaluate_store(
                store, bundle.ruleset, moment, stale=stale_kinds(store, bundle, moment)
            )
            clients = {c.id: c for c in store.clients()}
    print_records(output, [r for r in evaluation.records()], clients)


@app.command("explain")
def explain_command(ctx: typer.Context, client: str, as_of: AsOf = None) -> None:
    """Why CLIENT has its score: each component, what was missing, caps, and what changed."""
    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    with reported_errors():
        bundle = bundle_of(settings)
        with open_store(settings) as store:
            sync_registry(store, bundle.clients)
            known = store.client(client)
            if known is None:
                fail(f"no client by the id of {client!r} (see `rapport score`)")
            stale = stale_kinds(store, bundle, moment)
            evaluation = evaluate_store(store, bundle.ruleset, moment, stale=stale, persist=False)
            previous = store.latest_score(client, before=moment)
        current = evaluation.record(evaluation.row(client))
        if previous is not None and previous.as_of >= current.as_of:
            previous = None
        text = render_explanation(explain(current, bundle.scorecard, previous, known.segment))
    out.print(text, markup=False)


@app.command("history")
def history_command(ctx: typer.Context, client: str, output: Format = "table") -> None:
    """The stored scores of CLIENT, oldest first."""
    settings = settings_of(ctx)
    with reported_errors(), open_store(settings) as store:
        if store.client(client) is None:
            fail(f"no client by the id of {client!r}")
        records = store.history(client)
    if output == "table":
        out.print(render_history(client, records))
    else:
        print_records(output, records, {})


@app.command("demo")
def demo_command(
    ctx: typer.Context,
    as_of: AsOf = None,
    output: Format = "table",
) -> None:
    """Seed the deterministic demo (60 clients, 180 days) if the store is empty, then score it."""
    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    with reported_errors():
        bundle = bundle_of(settings)
        with open_store(settings) as store:
            seeded = store.signal_count() == 0
            sync_registry(store, bundle.clients)
            if seeded:
                store.upsert_signals(demo_signals(store.clients(), end=moment))
            evaluation = evaluate_store(
                store, bundle.ruleset, moment, stale=stale_kinds(store, bundle, moment)
            )
            clients = {c.id: c for c in store.clients()}
            count = store.signal_count()
    if output == "table":
        what = "seeded the demo" if seeded else "store already has signals; not seeding"
        err.print(f"{what}: {len(clients)} clients, {count} signals in {settings.database_url}")
    print_records(output, evaluation.records(), clients)


def stale_kinds(store: Store, bundle: RulesBundle, moment: datetime) -> dict[str, set[str]] | None:
    """The clients, per signal kind, whose collector has gone stale (None without collectors)."""
    if bundle.collectors is None:
        return None
    return collector_stale_kinds(store, bundle.collectors, moment)


# --- output ---------------------------------------------------------------------------------------


def print_records(output: str, records: list[Any], clients: dict[str, Any]) -> None:
    if output == "table":
        table: Table = render_scores(records, clients)
        # Piped output is read in files and CI logs, not 80-column terminals: keep rows whole.
        (out if out.is_terminal else Console(width=200, highlight=False)).print(table)
    elif output == "json":
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in records], indent=2) + "\n")
    elif output == "csv":
        sys.stdout.write(records_csv(records))
    else:
        fail(f"--format must be table, json or csv, not {output!r}")


def records_csv(records: list[Any]) -> str:
    """One row per client: score, grade, version, then each component's points."""
    component_ids = sorted({cid for r in records for cid in r.components})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["client", "as_of", "score", "grade", "rules_version", *component_ids])
    for r in records:
        points = [
            _blank(r.components[c].points) if c in r.components else "" for c in component_ids
        ]
        writer.writerow(
            [
                r.client,
                r.as_of.isoformat(),
                _blank(r.score),
                r.grade or "",
                r.rules_version,
                *points,
            ]
        )
    return buffer.getvalue()


def _blank(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


# Commands owned by a feature module (collectors, the service) add themselves.
for feature in (collect, serve, config, init):
    feature.register(app)


def main() -> None:
    app()
