"""A ``ValidationReport`` as text: a terminal table, markdown (for a pull request) or JSON.

The HTML page, with its charts, is ``api.validation.charts``. Every format leads with the
verdict; numbers follow in the same order: AUC, outcome rate per grade, calibration by score
band, components, segments, coverage.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rapport.api.validation.report import HorizonReport, ValidationReport
from rapport.api.validation.stats import Auc, Rate


def auc_text(a: Auc) -> str:
    if a.value is None:
        return "-"
    if a.low is None or a.high is None:
        return f"{a.value:.2f}"
    return f"{a.value:.2f} ({a.low:.2f}-{a.high:.2f})"


def rate_text(r: Rate) -> str:
    return "-" if r.rate is None else f"{r.rate:.0%}"


def _cost(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def horizon_tables(h: HorizonReport, positive: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of each table of one horizon, in report order."""
    best = next((g.rate for g in h.grades if g.cases and g.rate is not None), None)

    def lift(r: Rate) -> str:
        return "-" if r.rate is None or not best else f"{r.rate / best:.1f}×"

    return [
        (
            "Outcome rate per grade",
            ["grade", "cases", positive, "rate", "lift"],
            [[g.label, str(g.cases), str(g.positives), rate_text(g), lift(g)] for g in h.grades],
        ),
        (
            "Calibration by score band",
            ["score", "cases", positive, "rate"],
            [[b.label, str(b.cases), str(b.positives), rate_text(b)] for b in h.bands if b.cases],
        ),
        (
            "Components (own AUC; what removing it costs the score's AUC)",
            ["component", "AUC", "cases", "drop-one cost"],
            [
                [c.id, auc_text(c.auc), str(c.auc.positives + c.auc.negatives), _cost(c.drop_cost)]
                for c in h.components
            ],
        ),
        (
            "Segments",
            ["segment", "cases", positive, "rate", "AUC"],
            [
                [
                    s.segment,
                    str(s.rate.cases),
                    str(s.rate.positives),
                    rate_text(s.rate),
                    auc_text(s.auc),
                ]
                for s in h.segments
            ],
        ),
    ]


def coverage_line(h: HorizonReport) -> str:
    return (
        f"{h.cases} cases, {h.positives} positive; {h.scored} had a score, "
        f"{h.insufficient} insufficient_data, {h.no_data} no data at all"
    )


def positive_word(report: ValidationReport) -> str:
    return "churned" if report.question == "decision" else report.outcome


def _header(report: ValidationReport) -> str:
    return (
        f"Validation of {report.outcome!r} against scores as known then "
        f"(rules {report.rules_version}, {report.since} to {report.until})"
    )


def render_markdown(report: ValidationReport) -> str:
    lines = [f"## {_header(report)}", ""]
    lines += [f"**{line}**" if i == 0 else f"- {line}" for i, line in enumerate(report.verdict)]
    for h in report.horizons:
        lines += ["", f"### {h.horizon} ahead: AUC {auc_text(h.auc)}", "", coverage_line(h)]
        for title, header, rows in horizon_tables(h, positive_word(report)):
            lines += ["", f"**{title}**", "", _md_row(header), _md_row(["---"] * len(header))]
            lines += [_md_row(row) for row in rows]
    lines += ["", *(f"> {note}" for note in report.notes)]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_table(report: ValidationReport) -> str:
    """Plain aligned text for a terminal or a CI log."""
    lines = [_header(report), "", *report.verdict]
    for h in report.horizons:
        lines += ["", f"== {h.horizon} ahead: AUC {auc_text(h.auc)} ==", coverage_line(h)]
        for title, header, rows in horizon_tables(h, positive_word(report)):
            lines += ["", title, *_aligned([header, *rows])]
    lines += ["", *report.notes]
    return "\n".join(lines) + "\n"


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def report_dict(report: ValidationReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (ROC points included, rates computed)."""
    data = asdict(report)
    for h_data, h in zip(data["horizons"], report.horizons, strict=True):
        for key in ("grades", "bands"):
            for item, rate in zip(h_data[key], getattr(h, key), strict=True):
                item["rate"] = rate.rate
        for item, seg in zip(h_data["segments"], h.segments, strict=True):
            item["rate"]["rate"] = seg.rate.rate
        h_data["roc"] = {"fpr": h.roc[0], "tpr": h.roc[1]}
    return data


def render_json(report: ValidationReport) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
