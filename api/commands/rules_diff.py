"""``rapport rules diff``: what a rules change does to every client, before it merges.

The base rules are the rules directory as committed at ``--base`` (a git revision); the head rules
are ``--head`` — a directory, or a revision — defaulting to the rules directory as it is on disk.
Both are checked as ``rules check`` checks them (findings printed the same way, exit 1), then
replayed over the stored signals at every ``--step`` of the ``--days`` before ``--as-of``, each
step seeing the signals as they were known then (``api.rules_diff``). Output: ``table`` (default),
``markdown`` (a pull-request comment) or ``json``. ``--fail-on METRIC OP NUMBER`` (repeatable;
``engine.fail_on``) exits 1 when any condition holds, after printing the diff.

Top-level imports stay light (typer only): this module is imported to build ``rapport --help``.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rapport.api.exit_codes import BadChoiceError, FindingsReportedError, UsageError

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from rapport.api.bundle import RulesBundle
    from rapport.api.settings import Settings
    from rapport.engine.fail_on import Condition

OUTPUTS = ("table", "markdown", "json")
#: More instants than this is a mistake (``--step 1s``), not a review.
MAX_STEPS = 5000


class InvalidRulesError(FindingsReportedError):
    """One side of the diff does not pass ``rules check`` (its findings printed above)."""

    def __init__(self, side: str, count: int, where: str) -> None:
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{side} rules: {count} {noun} in {where}")


class ConditionsHeldError(FindingsReportedError):
    """A ``--fail-on`` condition holds for the diff printed above."""

    def __init__(self, held: list[str]) -> None:
        super().__init__(f"--fail-on condition holds: {', '.join(held)}")


class BadWindowError(UsageError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)


def diff_command(  # noqa: PLR0917 (typer reads the options from the signature)
    ctx: typer.Context,
    base: Annotated[str, typer.Option(help="Git revision of the base rules (e.g. origin/main).")],
    head: Annotated[
        str | None,
        typer.Option(help="Head rules: a directory or a git revision (default: --rules-dir)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Length of the replayed window, in days.")] = 90,
    step: Annotated[str, typer.Option(help="Time between replayed instants (1d, 12h, 1w).")] = "1d",
    output: Annotated[
        str, typer.Option("--format", "-f", help="table, markdown or json.")
    ] = "table",
    fail_on: Annotated[
        list[str] | None,
        typer.Option(help="Exit 1 when METRIC OP NUMBER holds, e.g. grade-changes>10."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="End of the window (ISO 8601; default now).")
    ] = None,
) -> None:
    """Replay the base and head rules over the stored signals and report what differs."""
    from rapport.api.cli import open_store, parse_instant, settings_of
    from rapport.api.diff_output import RENDERERS
    from rapport.api.rules_diff import diff_bundles

    if output not in OUTPUTS:
        raise BadChoiceError("--format", output, OUTPUTS)
    conditions = [_condition(text) for text in fail_on or ()]
    settings = settings_of(ctx)
    instants = _instants(parse_instant(as_of), days, _step(step))
    base_bundle = _load(settings, "base", base, revision=True)
    head_bundle = _head(settings, head)
    with open_store(settings) as store:
        result = diff_bundles(store, base_bundle, head_bundle, instants)
    typer.echo(RENDERERS[output](result), nl=False)
    counts = result.counts()
    held = [c.text for c in conditions if c.holds(counts)]
    if held:
        raise ConditionsHeldError(held)


def _condition(text: str) -> Condition:
    from rapport.engine.fail_on import parse_condition

    return parse_condition(text)  # BadConditionError: a RapportError, so exit 2


def _step(text: str) -> timedelta:
    from datetime import timedelta

    from rapport.engine.model import parse_duration

    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as error:
        raise BadWindowError(f"--step {text!r}: {error}") from None


def _instants(end: datetime, days: int, step: timedelta) -> tuple[datetime, ...]:
    from datetime import timedelta

    from rapport.engine.replay import window

    if days < 0:
        raise BadWindowError(f"--days must be 0 or more, not {days}")
    if timedelta(days=days) / step > MAX_STEPS:
        raise BadWindowError(f"--days {days} at --step {step} is over {MAX_STEPS} instants")
    return window(end, days, step)


def _head(settings: Settings, head: str | None) -> RulesBundle:
    if head is None:
        return _load(settings, "head", str(settings.rules_dir), revision=False)
    if Path(head).is_dir():
        return _load(settings, "head", head, revision=False)
    return _load(settings, "head", head, revision=True)


def _load(settings: Settings, side: str, where: str, *, revision: bool) -> RulesBundle:
    """One side's bundle; its findings printed as ``rules check`` prints them, then exit 1."""
    from rapport.api.bundle import check_bundle
    from rapport.api.rules_revision import bundle_at

    limit = settings.max_rules_bytes
    if revision:
        bundle, findings = bundle_at(settings.rules_dir, where, max_bytes=limit)
    else:
        bundle, findings = check_bundle(Path(where), max_bytes=limit)
    if bundle is None:
        for finding in sorted(findings):
            typer.echo(str(finding))
        raise InvalidRulesError(side, len(findings), where)
    return bundle


def replay_history(
    ctx: typer.Context, client: str | None, *, days: int, step: str, as_of: str | None
) -> None:
    """``rapport history --replay``: replace the stored scores of the ``days`` before ``as_of``
    with the current rules' replay of them, one evaluation per ``step``; each row carries the
    version of the rules that produced it."""
    from rapport.api.cli import bundle_of, open_store, parse_instant, settings_of
    from rapport.api.pipeline import sync_registry
    from rapport.api.rules_diff import sources_of
    from rapport.engine.frame import ClientSet
    from rapport.engine.replay import replay

    if client is not None:
        raise UsageError("--replay rebuilds every client's history; it takes no CLIENT")
    settings = settings_of(ctx)
    instants = _instants(parse_instant(as_of), days, _step(step))
    bundle = bundle_of(settings)
    with open_store(settings) as store:
        sync_registry(store, bundle.clients)
        registry = store.clients()
        clients = ClientSet.of([c.id for c in registry], [c.segment for c in registry])
        signals = store.signal_set(clients, until=instants[-1])
        sources = sources_of(store, bundle, registry, clients)
        replayed = replay(
            bundle.scorecard, clients, signals, instants, bundle.version, sources=sources,
            keep=True,
        )  # fmt: skip
        removed, written = store.replace_history(
            replayed.evaluations, since=instants[0], until=instants[-1]
        )
    typer.echo(
        f"replayed {len(instants)} instants × {len(clients)} clients with rules {bundle.version}: "
        f"{written} scores written, {removed} replaced"
    )


def register(app: typer.Typer) -> None:
    """Add ``diff`` to ``rapport rules``."""
    from rapport.api.cli import rules_app

    rules_app.command("diff")(diff_command)
