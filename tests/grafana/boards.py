"""What the grafana tests share: the generated boards, their queries, and PromQL's metric names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
BOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
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


def annotations() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every board's query annotations (Grafana's built-in one has no expression)."""
    for path in BOARDS:
        board = load(path)
        for annotation in board.get("annotations", {}).get("list", []):
            if "expr" in annotation.get("target", {}):
                yield board["uid"], annotation


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside {…} and […] that are not
    functions, keywords, numbers or label names of a ``by (…)`` clause."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    return {n for n in _NAME.findall(text) if n not in _FUNCTIONS and not n.isdigit()}


# --- the compose stack's files, as its containers see them ---------------------------------------

COMPOSE = ROOT / "compose.yaml"


def compose() -> dict[str, Any]:
    stack: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return stack


def bind_mounts(service: str) -> dict[str, Path]:
    """``service``'s bind mounts: container path → the host path (relative to the repository)."""
    mounts = {}
    for volume in compose()["services"][service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def host_path(service: str, inside: str) -> Path | None:
    """Where ``inside`` (a path in ``service``'s container) is on the host, through its bind
    mounts; None when no mount holds it."""
    for target, source in bind_mounts(service).items():
        if inside == target or inside.startswith(target.rstrip("/") + "/"):
            return source / Path(inside).relative_to(target) if inside != target else source
    return None


def prometheus_config(
    *, target: str, token_file: Path, interval: str | None = None
) -> dict[str, Any]:
    """The shipped prometheus.yml as compose's Prometheus reads it, runnable on this host:
    every file it names resolved through the compose mounts, the scrape target and the token file
    replaced (``interval`` overrides the scrape and evaluation intervals, for tests)."""
    config: dict[str, Any] = yaml.safe_load(
        (GRAFANA / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    resolved = []
    for name in config["rule_files"]:
        found = host_path("prometheus", name)
        assert found is not None, f"rule file {name} is not mounted into prometheus"
        resolved.append(str(found))
    config["rule_files"] = resolved
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    job["authorization"]["credentials_file"] = str(token_file)
    if interval is not None:
        config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    return config
