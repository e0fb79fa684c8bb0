"""``rapport collect [NAME...] [--once]``: pull signals from the sources in ``collectors.yaml``.

``--once`` runs the named collectors (all enabled ones by default) now, with a progress display,
re-scores the clients whose signals changed, prints one result row per collector and exits 0
when every collector succeeded, 1 when any failed (the others still ran) or ``collectors.yaml`` is
invalid (a finding, as in ``rapport rules check``), 2 when the file is missing, a name is unknown
or the store cannot be used (``rapport.api.exit_codes``). Without ``--once`` the collectors run on
their schedules in the foreground until interrupted (the same scheduler ``rapport serve`` uses,
including the leader lock when several processes share a PostgreSQL store).

Only typer and the standard library are imported at the top (see ``rapport.api.cli``).
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rapport.api.exit_codes import FindingsReportedError
from rapport.api.output import lazy_console, make_console
from rapport.engine.errors import RapportError

if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.table import Table

    from rapport.api.bundle import RulesBundle
    from rapport.engine.loader import Ruleset
    from rapport.signals.collector_state import RunRecord
    from rapport.signals.collectors.config import CollectorsConfig, CollectorSpec
    from rapport.signals.collectors.runner import RunObserver
    from rapport.signals.store import Store
else:  # RunObserver's module imports every connector; its hooks are no-ops, see _ProgressObserver
    RunObserver = object

out = lazy_console()
err = lazy_console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``collect`` to the ``rapport`` command line."""
    app.command("collect")(collect_command)


def collect_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Collector ids (default: every enabled collector).")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run now and exit instead of running on schedules.")
    ] = False,
    retry: Annotated[
        float, typer.Option(help="Seconds between leadership attempts (shared PostgreSQL).")
    ] = 10.0,
) -> None:
    """Run collectors now (--once) or on their schedules until interrupted."""
    from rapport.api.pipeline import sync_registry
    from rapport.api.settings import Settings
    from rapport.signals.store import Store

    settings = ctx.obj
    assert isinstance(settings, Settings), "the rapport callback puts Settings in ctx.obj"
    selected = list(names or [])
    config, bundle = _load(settings.rules_dir, selected, settings.max_rules_bytes)
    ruleset = bundle.ruleset
    with Store.open(settings.database_url) as store:
        sync_registry(store, bundle.clients)
        if not once:
            _collect_forever(store, config, selected, ruleset, retry)
            return
        records = _collect_once(store, config, selected, ruleset)
    out.print(render_runs(records))
    failed = [r.collector for r in records if not r.ok]
    if failed:
        raise CollectorsFailedError(failed, len(records))


class CollectorsFailedError(FindingsReportedError):
    """Some collectors of a ``--once`` run failed (the table above says why); the others ran."""

    def __init__(self, failed: Sequence[str], ran: int) -> None:
        super().__init__(f"{len(failed)} of {ran} collectors failed: {', '.join(failed)}")


def _load(
    rules_dir: Path, names: Sequence[str], max_bytes: int
) -> tuple[CollectorsConfig, RulesBundle]:
    """The collectors (checked against ``names``) and the rules bundle used to re-score."""
    from rapport.api.bundle import load_bundle
    from rapport.signals.collectors.config import COLLECTORS_FILE

    path = rules_dir / COLLECTORS_FILE
    if not path.is_file():
        raise _NoCollectorsFileError(path)
    bundle = load_bundle(rules_dir, max_bytes=max_bytes)
    assert bundle.collectors is not None  # the file exists and the bundle loaded
    bundle.collectors.select(names)  # an unknown name is a usage error before anything runs
    return bundle.collectors, bundle


class _NoCollectorsFileError(RapportError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"no {path.name} at {path} (see the README for its format)")


def rescorer(
    store: Store, config: CollectorsConfig, ruleset: Ruleset, clock: Callable[[], datetime]
) -> Callable[[set[str]], None]:
    """The ``rescore`` callback: evaluate the affected registered clients now and store them."""
    from rapport.api.pipeline import evaluate_store
    from rapport.engine.frame import ClientSet
    from rapport.signals.collectors.runner import covered_kinds, stale_kinds

    def rescore(client_ids: set[str]) -> None:
        everyone = store.client_set()
        rows = [i for i, cid in enumerate(everyone.ids) if cid in client_ids]
        if not rows:
            return
        subset = ClientSet.of([everyone.ids[i] for i in rows], [everyone.segments[i] for i in rows])
        moment = clock()
        stale, covered = stale_kinds(store, config, moment), covered_kinds(store, config, moment)
        evaluate_store(store, ruleset, moment, stale=stale, covered=covered, clients=subset)

    return rescore


def _now() -> datetime:
    return datetime.now(UTC)


def _collect_once(
    store: Store, config: CollectorsConfig, names: Sequence[str], ruleset: Ruleset
) -> list[RunRecord]:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from rapport.signals.collectors.runner import run_collectors

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        transient=False,
    ) as progress:
        return run_collectors(
            store,
            config,
            names,
            rescore=rescorer(store, config, ruleset, _now),
            observer=_ProgressObserver(progress),
        )


class _ProgressObserver(RunObserver):
    """One progress line per collector: pages and signals so far, then the outcome.

    A ``RunObserver`` to the type checker only: subclassing it at run time would import every
    connector when this module is imported; this class implements every hook itself."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    def started(self, spec: CollectorSpec) -> None:
        self._tasks[spec.id] = self._progress.add_task(spec.id, total=None, status="fetching…")

    def page(self, spec: CollectorSpec, pages: int, items: int) -> None:
        status = f"{pages} page{'s' if pages != 1 else ''}, {items} signals"
        self._progress.update(self._tasks[spec.id], status=status)

    def finished(self, record: RunRecord) -> None:
        status = f"done: {record.items} signals" if record.ok else "[red]failed[/]"
        self._progress.update(self._tasks[record.collector], status=status, total=1, completed=1)


def render_runs(records: Sequence[RunRecord]) -> Table:
    """One row per run: outcome, counts, time taken, the error or first skip reason, and — when
    any run has them — its warnings."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Collectors")
    table.add_column("collector", no_wrap=True)
    table.add_column("result")
    for name in ("signals", "new/changed", "unmapped", "skipped", "seconds"):
        table.add_column(name, justify="right")
    table.add_column("details")
    warned = any(r.warnings for r in records)
    if warned:  # only then: a narrow terminal keeps room for the other columns
        table.add_column("warnings")
    for r in records:
        result = Text("ok", style="green") if r.ok else Text("failed", style="bold red")
        warnings = [Text("; ".join(r.warnings), style="yellow")] if warned else []
        table.add_row(
            r.collector,
            result,
            str(r.items),
            str(r.stored),
            str(r.unmapped),
            str(r.skipped),
            f"{r.duration:.1f}",
            Text(_details(r)),
            *warnings,
        )
    return table


def _details(record: RunRecord) -> str:
    parts = []
    if record.error:
        parts.append(record.error)
    if record.unmapped_ids:
        shown = ", ".join(list(record.unmapped_ids)[:3])
        parts.append(f"unmapped: {shown}")
    if record.skip_reasons:
        parts.append(f"skipped {record.skip_reasons[0]}")
    if record.note:
        parts.append(record.note)
    return "; ".join(parts)


def _collect_forever(
    store: Store, config: CollectorsConfig, names: Sequence[str], ruleset: Ruleset, retry: float
) -> None:
    """Run the schedules until SIGINT/SIGTERM."""
    from rapport.signals.collectors.schedule import CollectorService

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service = CollectorService(store, config.only(names), retry=retry)
    service.start(rescorer(store, config, ruleset, _now))
    chosen = ", ".join(spec.id for spec in config.select(names)) or "none enabled"
    err.print(f"collecting on schedule ({chosen}); Ctrl-C to stop", markup=False)
    try:
        while not stop.wait(1.0):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        service.stop()
    err.print("stopped", markup=False)
