"""The ``rapport`` command line.

Exit codes and error messages have one home, ``rapport.api.exit_codes``: 0 ok, 1 a finding
(invalid rules, a failed rule test, rejected import rows, a failed collector), 2 a usage or
environment error, each failure one ``error: ...`` line on stderr and never a traceback.

Start-up is part of the interface: ``rapport --help`` answers in a tenth of a second because this
module and every command module import only typer and the standard library at their top; what a
command needs (the engine, the store, FastAPI, rich) is imported inside its body. Keep it so — a
test fails when ``rapport --help`` imports fastapi, sqlalchemy or numpy.

Commands of one feature live in ``rapport.api.commands.<name>``, a module exposing
``register(app: typer.Typer) -> None`` that adds its commands (or a sub-``Typer``) to ``app``. To
add one, write the module (same import rule: cheap top level, heavy imports in the bodies) and add
its name to ``COMMAND_MODULES`` below — that one line is the whole registration.
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rapport.api.exit_codes import (
    BadChoiceError,
    FindingsReportedError,
    RapportGroup,
    UsageError,
)
from rapport.api.output import lazy_console, make_console

if TYPE_CHECKING:
    from rapport.api.bundle import RulesBundle
    from rapport.api.settings import Settings
    from rapport.signals.store import Store

# The feature modules under rapport.api.commands that add their commands to `rapport`.
COMMAND_MODULES = (
    "collect", "serve", "config", "init", "alerts", "export", "validate", "rules_diff",
    "rules_schema",
)  # fmt: skip

app = typer.Typer(
    cls=RapportGroup,
    name="rapport",
    help="Rapport: which client relationships are healthy, and which are slipping.",
    no_args_is_help=True,
    # Plain (click) help: rich's help panels cost ~0.1 s of imports on every --help and print a
    # type column that reads `--help <bool>`.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(
    help="Check and test the rules directory.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(rules_app, name="rules")

out = lazy_console()
err = lazy_console(stderr=True)

FORMATS = ("table", "json", "csv")


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
    from rapport.api.settings import load_settings

    ctx.obj = load_settings(database_url=database_url, rules_dir=rules_dir)


class NoSuchClientError(UsageError):
    """A client id the store does not hold."""

    def __init__(self, client: str, hint: str = "") -> None:
        super().__init__(f"no client by the id of {client!r}{hint}")


class MissingFilesError(UsageError):
    """Files named on the command line that do not exist."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(f"no such file: {', '.join(paths)}")


class BadInstantError(UsageError):
    """An ``--as-of`` that is not ISO 8601."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f"--as-of {text!r} is not an ISO 8601 date or date-time (e.g. 2026-06-30T12:00:00Z)"
        )


class RulesProblemsError(FindingsReportedError):
    """``rules check`` found problems (printed above, one per line)."""

    def __init__(self, count: int, directory: Path) -> None:
        super().__init__(f"{count} {'problem' if count == 1 else 'problems'} in {directory}")


class RuleTestsFailedError(FindingsReportedError):
    """``rules test`` ran and some rule tests failed (their diffs printed above)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"rule tests failed in {directory}")


def settings_of(ctx: typer.Context) -> Settings:
    from rapport.api.settings import Settings

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
        raise BadInstantError(text) from None
    if len(text) == 10:  # a bare date: the end of that day, like a milestone's due date
        moment = datetime.combine(date.fromisoformat(text), datetime.max.time())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


AsOf = Annotated[
    str | None, typer.Option("--as-of", help="Evaluate as of this instant (ISO 8601; default now).")
]
Format = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]


def open_store(settings: Settings) -> Store:
    from rapport.signals.store import Store

    return Store.open(settings.database_url)


def bundle_of(settings: Settings) -> RulesBundle:
    """The rules bundle of ``--rules-dir``; raises ``RulesError`` with every finding."""
    from rapport.api.bundle import load_bundle

    return load_bundle(settings.rules_dir, max_bytes=settings.max_rules_bytes)


# --- rules ----------------------------------------------------------------------------------------


@rules_app.command("check")
def rules_check(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Rules directory (default: --rules-dir).")
    ] = None,
) -> None:
    """Validate every file of a rules directory; print all problems as path:line:col."""
    from rapport.api.bundle import check_bundle

    settings = settings_of(ctx)
    target = directory or settings.rules_dir
    bundle, findings = check_bundle(target, max_bytes=settings.max_rules_bytes)
    if bundle is None:
        for finding in sorted(findings):
            typer.echo(str(finding))  # plain: no need to load rich for lines of text
        raise RulesProblemsError(len(findings), target)
    typer.echo(f"{target}: rules OK (version {bundle.version})")


@rules_app.command("test")
def rules_test(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Rules directory (default: --rules-dir).")
    ] = None,
) -> None:
    """Run the rule tests in DIR/tests/*.yaml against DIR's scorecard; print a diff per failure."""
    from rapport.api.bundle import load_bundle
    from rapport.api.rule_tests import run_cases

    settings = settings_of(ctx)
    target = directory or settings.rules_dir
    bundle = load_bundle(target, max_bytes=settings.max_rules_bytes)
    report = run_cases(bundle.rule_tests, bundle.scorecard)
    out.print(report.render(), markup=False)
    if not report.ok:
        raise RuleTestsFailedError(target)


# --- data -----------------------------------------------------------------------------------------


@app.command("import")
def import_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="CSV or JSONL files of signals or clients.")],
    kind: Annotated[str, typer.Option(help="auto, signals or clients.")] = "auto",
) -> None:
    """Import signals or clients from CSV/JSONL files: all rows or, if any row is bad, none."""
    if kind not in ("auto", "signals", "clients"):
        raise BadChoiceError("--kind", kind, ("auto", "signals", "clients"))
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise MissingFilesError(missing)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from rapport.signals.importer import import_files

    settings = settings_of(ctx)
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    from rapport.engine.kinds import known_kinds

    bundle = bundle_of(settings)  # the kinds its scorecard reads, its clients and time zones
    progress = Progress(*columns, console=make_console(stderr=True))
    with open_store(settings) as store, progress as bar:
        task = bar.add_task("importing", total=sum(f.stat().st_size for f in files))
        report = import_files(
            store,
            files,
            kind=kind,  # type: ignore[arg-type]
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            known_kinds=known_kinds(bundle.scorecard.signals),
            outcome_types=bundle.scorecard.outcome_types(),
            registry=bundle.clients or (),
        )
    out.print(report.summary(), markup=False)


@app.command("score")
def score_command(ctx: typer.Context, as_of: AsOf = None, output: Format = "table") -> None:
    """Evaluate every client, store the scores in history, and print them."""
    from rapport.api.pipeline import evaluate_store, sync_registry

    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    bundle = bundle_of(settings)
    with open_store(settings) as store:
        sync_registry(store, bundle.clients)
        stale, covered = source_kinds(store, bundle, moment)
        evaluation = evaluate_store(store, bundle.ruleset, moment, stale=stale, covered=covered)
        clients = {c.id: c for c in store.clients()}
    print_records(output, [r for r in evaluation.records()], clients)


@app.command("explain")
def explain_command(ctx: typer.Context, client: str, as_of: AsOf = None) -> None:
    """Why CLIENT has its score: each component and the events behind it, what was missing,
    caps, and what changed against its stored scores 7 and 30 days before."""
    from rapport.api.pipeline import earlier_scores, evaluate_client, sync_registry
    from rapport.engine.explain import explain
    from rapport.engine.explain_text import render_explanation

    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    bundle = bundle_of(settings)
    with open_store(settings) as store:
        sync_registry(store, bundle.clients)
        known = store.client(client)
        if known is None:
            raise NoSuchClientError(client, " (see `rapport score`)")
        stale, covered = source_kinds(store, bundle, moment)
        # This client alone: explaining one must not score the whole registry.
        evaluated = evaluate_client(
            store, bundle.ruleset, known, moment, stale=stale, covered=covered
        )
        earlier = earlier_scores(store, client, moment)
    explanation = explain(
        evaluated.record(),
        evaluated.scorecard,
        segment=known.segment,
        earlier=earlier,
        evidence=evaluated.evidence(),
    )
    # No markup and no emoji codes: an event id like `...:100:` is text, not an emoji.
    out.print(render_explanation(explanation), markup=False, emoji=False)


@app.command("history")
def history_command(  # noqa: PLR0917 (typer reads the options from the signature)
    ctx: typer.Context,
    client: Annotated[str | None, typer.Argument(help="The client (not with --replay).")] = None,
    output: Format = "table",
    replay: Annotated[
        bool, typer.Option("--replay", help="Rebuild every client's stored history instead.")
    ] = False,
    days: Annotated[int, typer.Option(help="With --replay: the window, in days.")] = 90,
    step: Annotated[str, typer.Option(help="With --replay: time between scores.")] = "1d",
    as_of: AsOf = None,
) -> None:
    """The stored scores of CLIENT, oldest first; or, with --replay, rebuild the stored history
    of the --days before --as-of with the current rules (see `rapport rules diff`)."""
    from rapport.api.output import render_history

    if replay:
        from rapport.api.commands.rules_diff import replay_history

        replay_history(ctx, client, days=days, step=step, as_of=as_of)
        return
    if client is None:
        raise UsageError("give a CLIENT to show its history, or --replay to rebuild it")
    settings = settings_of(ctx)
    with open_store(settings) as store:
        if store.client(client) is None:
            raise NoSuchClientError(client)
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
    """Seed the deterministic demo (60 clients, 180 days, a daily score history) if the store is
    empty, then score it."""
    from rapport.api.commands.serve import seed_demo_history
    from rapport.api.pipeline import evaluate_store, sync_registry
    from rapport.signals.demo import demo_signals

    settings = settings_of(ctx)
    moment = parse_instant(as_of)
    bundle = bundle_of(settings)
    with open_store(settings) as store:
        seeded = store.signal_count() == 0
        sync_registry(store, bundle.clients)
        if seeded:
            store.upsert_signals(demo_signals(store.clients(), end=moment))
            seed_demo_history(store, bundle.ruleset, moment)
        stale, covered = source_kinds(store, bundle, moment)
        evaluation = evaluate_store(store, bundle.ruleset, moment, stale=stale, covered=covered)
        clients = {c.id: c for c in store.clients()}
        count = store.signal_count()
        store_url = store.url  # credentials masked
    if output == "table":
        what = "seeded the demo" if seeded else "store already has signals; not seeding"
        err.print(f"{what}: {len(clients)} clients, {count} signals in {store_url}", markup=False)
    print_records(output, evaluation.records(), clients)


def source_kinds(
    store: Store, bundle: RulesBundle, moment: datetime
) -> tuple[dict[str, set[str]] | None, dict[str, set[str]] | None]:
    """``evaluate_store``'s ``stale`` and ``covered``: the clients, per signal kind, whose collector
    has gone stale, or is fresh and maps them (None, None without collectors)."""
    from rapport.signals.collectors.runner import covered_kinds
    from rapport.signals.collectors.runner import stale_kinds as collector_stale_kinds

    if bundle.collectors is None:
        return None, None
    return (
        collector_stale_kinds(store, bundle.collectors, moment),
        covered_kinds(store, bundle.collectors, moment),
    )


# --- output ---------------------------------------------------------------------------------------


def print_records(output: str, records: list[Any], clients: dict[str, Any]) -> None:
    import json
    import sys

    if output == "table":
        from rich.console import Console

        from rapport.api.output import render_scores

        table = render_scores(records, clients)
        # Piped output is read in files and CI logs, not 80-column terminals: keep rows whole.
        (out if out.is_terminal else Console(width=200, highlight=False)).print(table)
    elif output == "json":
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in records], indent=2) + "\n")
    elif output == "csv":
        sys.stdout.write(records_csv(records))
    else:
        raise BadChoiceError("--format", output, FORMATS)


def records_csv(records: list[Any]) -> str:
    """One row per client: score, grade, version, coverage, then each component's points."""
    import csv
    import io

    component_ids = sorted({cid for r in records for cid in r.components})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["client", "as_of", "score", "grade", "rules_version", "coverage", *component_ids]
    writer.writerow(header)
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
                "" if r.coverage is None else f"{r.coverage:.3f}",
                *points,
            ]
        )
    return buffer.getvalue()


def _blank(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


for _name in COMMAND_MODULES:
    importlib.import_module(f"rapport.api.commands.{_name}").register(app)


def main() -> None:
    app()
