"""What the grafana tests share: the generated boards, their queries, and PromQL's metric names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
BOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: Families exported by the alerts and notify modules, not by /metrics in every build: their
#: panels are checked for parse success only (documented in the README).
OTHER_MODULES = frozenset(
    {
        "rapport_alerts_firing",
        "rapport_outbox_pending",
        "rapport_outbox_failed",
        "rapport_notifications_sent_total",
        "ALERTS",
    }
)
_FUNCTIONS = frozenset(
    [
        "sum",
        "count",
        "avg",
        "min",
        "max",
        "by",
        "on",
        "without",
        "bottomk",
        "topk",
        "rate",
        "increase",
        "histogram_quantile",
        "time",
        "vector",
        "or",
        "and",
        "unless",
        "label_values",
        "offset",
        "le",
    ]
)
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def panels() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in BOARDS:
        board = load(path)
        for panel in board["panels"]:
            yield board["uid"], panel


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside {…} and […] that are not
    functions, keywords, numbers or label names of a ``by (…)`` clause."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    return {n for n in _NAME.findall(text) if n not in _FUNCTIONS and not n.isdigit()}
