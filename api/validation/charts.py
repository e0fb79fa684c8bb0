"""The HTML validation report: the verdict, the tables, and per horizon three charts drawn with
matplotlib as inline SVG (the ROC curve, the outcome rate per grade, the calibration by score
band). One self-contained file: no script, no stylesheet or font fetched from anywhere, so it
opens from disk, from an email, or from ``rapport serve`` (``/validation``).
"""

from __future__ import annotations

import io
import re
from html import escape

import matplotlib as mpl
from matplotlib.figure import Figure

from rapport.api.validation.render import (
    auc_text,
    coverage_line,
    horizon_tables,
    positive_word,
)
from rapport.api.validation.report import HorizonReport, ValidationReport

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;
color:#222;padding:0 1rem}h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}
.verdict{background:#f4f6f8;border-left:4px solid #1565c0;padding:.8rem 1rem}
.verdict p:first-child{font-weight:600}table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}th{background:#fafafa}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts figure{margin:0}.notes{color:#555}
"""


_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _svg(figure: Figure) -> str:
    """A figure as an inline ``<svg>`` element (its XML prologue dropped)."""
    buffer = io.StringIO()
    # Text drawn as paths (no font to fetch) and fixed ids, so one report gives the same bytes.
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": "rapport", "font.size": 9}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    # The prologue and the RDF metadata block are no use inline (and name other sites).
    return _METADATA.sub("", text[text.index("<svg") :])


def _charts(h: HorizonReport, positive: str) -> list[str]:
    """The ROC curve, the rate per grade and the calibration, as SVG. Figures are built with
    matplotlib's object API (no pyplot): no global figure state, no display backend."""
    roc = Figure(figsize=(4, 4))
    ax = roc.subplots()
    ax.plot(h.roc[0], h.roc[1], color="#1565c0", label=f"score (AUC {auc_text(h.auc)})")
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", label="coin toss (0.5)")
    ax.set(xlabel="false alarms (share of the others)", ylabel=f"caught (share of {positive})")
    ax.set_title(f"ROC, {h.horizon} ahead")
    ax.legend(loc="lower right", fontsize=8)
    grades = [g for g in h.grades if g.cases]
    per_grade = Figure(figsize=(4, 4))
    ax = per_grade.subplots()
    ax.bar([g.label for g in grades], [100 * (g.rate or 0.0) for g in grades], color="#c62828")
    ax.set(ylabel=f"% {positive}", title=f"{positive} per grade, {h.horizon} ahead")
    ax.tick_params(axis="x", labelrotation=20)
    bands = [b for b in h.bands if b.cases]
    calibration = Figure(figsize=(4, 4))
    ax = calibration.subplots()
    ax.plot([b.label for b in bands], [100 * (b.rate or 0.0) for b in bands], marker="o")
    ax.set(xlabel="score band", ylabel=f"% {positive}", title=f"Calibration, {h.horizon} ahead")
    ax.tick_params(axis="x", labelrotation=45)
    return [_svg(figure) for figure in (roc, per_grade, calibration)]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: ValidationReport) -> str:
    """The whole report as one HTML document."""
    positive = positive_word(report)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Rapport validation: {escape(report.outcome)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>Did the scores foresee {escape(report.outcome)}?</h1>",
        f"<p>Rules {escape(report.rules_version)}, outcomes from {escape(report.since)} to "
        f"{escape(report.until)}.</p><div class='verdict'>",
        *(f"<p>{escape(line)}</p>" for line in report.verdict),
        "</div>",
    ]
    for h in report.horizons:
        parts.append(f"<h2>{escape(h.horizon)} ahead: AUC {escape(auc_text(h.auc))}</h2>")
        parts.append(f"<p>{escape(coverage_line(h))}</p><div class='charts'>")
        parts += [f"<figure>{svg}</figure>" for svg in _charts(h, positive)]
        parts.append("</div>")
        for title, header, rows in horizon_tables(h, positive):
            parts.append(f"<h3>{escape(title)}</h3>{_table(header, rows)}")
    parts.append("<div class='notes'>")
    parts += [f"<p>{escape(note)}</p>" for note in report.notes]
    parts.append("</div></body></html>\n")
    return "".join(parts)
