"""A ``RulesDiff`` as people and tools read it: a plain table for a terminal or CI log, Markdown for
a pull-request comment (the summary first, the details folded in ``<details>``), JSON for tools.

Markdown lists at most ``MAX_ROWS`` rows per section (GitHub refuses comments over 65,536
characters); the JSON is complete. Scores print to one decimal, instants as dates when they fall
at midnight UTC or at a day's last instant (a bare ``--as-of`` date), else to the minute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from rapport.engine.rules_diff import AlertChange, ClientDiff, GradeTransition, RulesDiff

MAX_ROWS = 100


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _grade(value: str | None) -> str:
    return value if value is not None else "ungraded"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    utc = moment.astimezone(UTC)
    if utc.time() in (time(0), time.max):  # midnight, or the end of a bare --as-of date
        return utc.date().isoformat()
    return utc.strftime("%Y-%m-%d %H:%MZ")


def _now(c: ClientDiff, side: str) -> str:
    score, grade = (c.base_score, c.base_grade) if side == "base" else (c.head_score, c.head_grade)
    return f"{_score(score)} {_grade(grade)}"


def _transition(t: GradeTransition) -> str:
    return f"{_when(t.at)} {_grade(t.before)} → {_grade(t.after)}"


def _alert(a: AlertChange) -> str:
    return f"{_when(a.at)} {a.rule} ({a.severity})"


def _header(d: RulesDiff) -> str:
    return (
        f"rules diff {d.base_version} → {d.head_version}, {d.steps} instants "
        f"{_when(d.start)} … {_when(d.end)}"
    )


# --- table ---------------------------------------------------------------------------------------


def render_table(d: RulesDiff) -> str:
    """The summary, then one row per changed client and a line per transition or alert."""
    lines = [_header(d), d.summary()]
    if d.empty:
        return "\n".join(lines) + "\n"
    rows = [("client", "base now", "head now", "largest", "at")]
    rows += [
        (c.client, _now(c, "base"), _now(c, "head"), _signed(c.largest), _when(c.largest_at))
        for c in d.clients
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("")
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]  # fmt: skip
    details = _detail_lines(d.clients)
    if details:
        lines += ["", *details]
    return "\n".join(lines) + "\n"


def _detail_lines(clients: Sequence[ClientDiff]) -> list[str]:
    out = []
    for c in clients:
        out += [f"{c.client}: transition only under head: {_transition(t)}" for t in c.appeared]
        out += [f"{c.client}: transition only under base: {_transition(t)}" for t in c.vanished]
        out += [f"{c.client}: alert only under head: {_alert(a)}" for a in c.new_alerts]
        out += [f"{c.client}: alert only under base: {_alert(a)}" for a in c.gone_alerts]
    return out


# --- markdown ------------------------------------------------------------------------------------


def render_markdown(d: RulesDiff) -> str:
    """A pull-request comment: title, summary, counts; clients, transitions, alerts folded."""
    lines = [f"### Rapport rules diff: `{d.base_version}` → `{d.head_version}`", ""]
    lines += [f"**{d.summary()}**", ""]
    lines += [f"{d.steps} instants from {_when(d.start)} to {_when(d.end)}."]
    if d.empty:
        return "\n".join(lines) + "\n"
    counts = d.counts()
    lines += ["", "| figure | value |", "| --- | ---: |"]
    lines += [f"| {name} | {_figure(value)} |" for name, value in counts.items()]
    clients = [
        f"| {c.client} | {_now(c, 'base')} | {_now(c, 'head')} | {_signed(c.largest)} "
        f"| {_when(c.largest_at)} |"
        for c in d.clients
    ]
    lines += _folded(
        f"Clients ({len(d.clients)} changed)",
        ["| client | base now | head now | largest difference | at |",
         "| --- | --- | --- | ---: | --- |"],
        clients,
    )  # fmt: skip
    transitions = [
        f"| {c.client} | {side} | {_transition(t)} |"
        for c in d.clients
        for side, items in (("head", c.appeared), ("base", c.vanished))
        for t in items
    ]
    if transitions:
        header = ["| client | only under | transition |", "| --- | --- | --- |"]
        lines += _folded(f"Grade transitions ({len(transitions)})", header, transitions)
    alerts = [
        f"| {c.client} | {side} | {_alert(a)} |"
        for c in d.clients
        for side, items in (("head", c.new_alerts), ("base", c.gone_alerts))
        for a in items
    ]
    if alerts:
        header = ["| client | only under | alert fired |", "| --- | --- | --- |"]
        lines += _folded(f"Alerts ({len(alerts)})", header, alerts)
    return "\n".join(lines) + "\n"


def _folded(title: str, header: list[str], rows: list[str]) -> list[str]:
    shown = rows[:MAX_ROWS]
    more = ["", f"… and {len(rows) - MAX_ROWS} more"] if len(rows) > MAX_ROWS else []
    return ["", "<details>", f"<summary>{title}</summary>", "", *header, *shown, *more, "",
            "</details>"]  # fmt: skip


def _figure(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# --- json ----------------------------------------------------------------------------------------


def diff_json(d: RulesDiff) -> dict[str, Any]:
    """The whole diff as JSON-ready values (instants ISO 8601 UTC)."""

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).isoformat()

    def transition(t: GradeTransition) -> dict[str, Any]:
        return {"at": iso(t.at), "before": t.before, "after": t.after}

    def alert(a: AlertChange) -> dict[str, Any]:
        return {"rule": a.rule, "at": iso(a.at), "severity": a.severity}

    return {
        "base": d.base_version,
        "head": d.head_version,
        "start": iso(d.start),
        "end": iso(d.end),
        "steps": d.steps,
        "clients_compared": d.compared,
        "summary": d.summary(),
        "counts": d.counts(),
        "clients": [
            {
                "client": c.client,
                "base": {"score": c.base_score, "grade": c.base_grade},
                "head": {"score": c.head_score, "grade": c.head_grade},
                "largest_difference": c.largest,
                "largest_at": iso(c.largest_at),
                "transitions_only_head": [transition(t) for t in c.appeared],
                "transitions_only_base": [transition(t) for t in c.vanished],
                "alerts_only_head": [alert(a) for a in c.new_alerts],
                "alerts_only_base": [alert(a) for a in c.gone_alerts],
            }
            for c in d.clients
        ],
    }


def render_json(d: RulesDiff) -> str:
    return json.dumps(diff_json(d), indent=2) + "\n"


RENDERERS = {"table": render_table, "markdown": render_markdown, "json": render_json}
