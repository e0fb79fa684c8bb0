"""Terminal rendering of scores for the CLI (rich tables); no logic beyond presentation.

rich is imported on first use, not at import: a command module imports this one at its top, and
``rapport --help`` must not pay for rich (see ``rapport.api.cli``).
"""

# Imports inside functions are the point here: start-up cost (see rapport.api.cli).
# ruff: noqa: PLC0415

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from rapport.engine.result import ClientScore
    from rapport.signals.model import Client

_GRADE_STYLE = {
    "healthy": "green",
    "watch": "yellow",
    "at_risk": "red",
}
#: ``insufficient_data`` is not a grade of the scorecard: it reads apart from every grade.
_INSUFFICIENT_STYLE = "magenta"
_STATUS_MARK = {"ok": "", "missing": "?", "stale": "~"}


def make_console(*, stderr: bool = False) -> Console:
    """A rich ``Console`` on stdout (or stderr) as the CLI prints: plain text (no highlighting),
    long lines kept whole so that findings stay one per line."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class _LazyConsole:
    """A console made by ``make_console`` on first use; every attribute is the real console's.

    Special methods bypass ``__getattr__``: where rich needs the console itself (a ``Progress``
    display), pass ``make_console()``."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = make_console(stderr=self._stderr)
        return getattr(self._console, name)


def lazy_console(*, stderr: bool = False) -> Console:
    """A module-level console that imports rich only when it first prints."""
    return cast("Console", _LazyConsole(stderr=stderr))


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _grade(record: ClientScore) -> Text:
    """The grade cell: ``insufficient data`` (with no score beside it) reads apart from grades."""
    from rich.text import Text

    if record.insufficient:
        return Text("insufficient data", style=_INSUFFICIENT_STYLE)
    return Text(record.grade or "no data", style=_GRADE_STYLE.get(record.grade or "", "dim"))


def _coverage(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def render_scores(records: Sequence[ClientScore], clients: Mapping[str, Client]) -> Table:
    """Clients worst first: score, grade, coverage, owner, and each component's points.

    A component mark ``?`` means missing data (its policy applied), ``~`` stale or carried data.
    A client graded ``insufficient data`` shows no score: too little of it is measured.
    """
    from rich.table import Table

    component_ids = sorted({cid for r in records for cid in r.components})
    table = Table(
        title="Client health", caption="? missing data   ~ stale/carried   ⛔ cap applied"
    )
    table.add_column("client", overflow="fold", min_width=12)
    table.add_column("score", justify="right")
    table.add_column("grade")
    table.add_column("coverage", justify="right")
    table.add_column("owner")
    for cid in component_ids:
        table.add_column(cid.replace("_", "\n"), justify="right", min_width=5)
    table.add_column("limits")
    ordered = sorted(
        records, key=lambda r: (r.score is None, r.score if r.score is not None else 0.0)
    )
    for record in ordered:
        client = clients.get(record.client)
        owner = client.owner.name if client is not None and client.owner is not None else ""
        cells = []
        for cid in component_ids:
            comp = record.components.get(cid)
            cells.append(
                "" if comp is None else _number(comp.points, 0) + _STATUS_MARK[comp.status]
            )
        limits = ", ".join(f"⛔ {lim.id}" for lim in record.limits)
        table.add_row(
            record.client,
            _number(record.score),
            _grade(record),
            _coverage(record.coverage),
            owner,
            *cells,
            limits,
        )
    return table


def render_history(client: str, records: Sequence[ClientScore]) -> Table:
    from rich.table import Table

    table = Table(title=f"History of {client}")
    for name in ("as of", "score", "grade", "coverage", "rules version"):
        table.add_column(name, justify="right" if name in ("score", "coverage") else "left")
    for record in records:
        table.add_row(
            record.as_of.strftime("%Y-%m-%d %H:%M"),
            _number(record.score),
            _grade(record),
            _coverage(record.coverage),
            record.rules_version,
        )
    return table
