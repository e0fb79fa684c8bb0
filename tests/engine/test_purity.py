"""The engine stays pure: its modules import only the standard library, numpy, pydantic and yaml.

Every ``engine/**/*.py`` is parsed with ``ast`` (nothing is imported to check it), so a forbidden
import fails here even inside a function body or an ``if TYPE_CHECKING`` block.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
ALLOWED = {
    "numpy",
    "pydantic",
    "pydantic_core",
    "yaml",
    "rapport.engine",
}  # pydantic_core is pydantic's
#: The shell's packages and IO libraries, named so that a stdlib one (smtplib) fails as well.
FORBIDDEN = {
    "fastapi",
    "sqlalchemy",
    "smtplib",
    "apscheduler",
    "prometheus_client",
    "httpx",
    "rapport.signals",
    "rapport.api",
}


def _root(module: str) -> str:
    """``numpy.typing`` → ``numpy``; Rapport's own packages by their second part too
    (``rapport.signals.model`` → ``rapport.signals``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "rapport" else parts[0]


def imported_roots(source: str) -> set[str]:
    """Top-level package of every absolute import in ``source`` (relative ones stay in engine)."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(_root(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(_root(node.module))
    return roots


def impurities(source: str) -> set[str]:
    """Imports the engine may not make."""
    roots = imported_roots(source)
    allowed = ALLOWED | set(sys.stdlib_module_names) | {"__future__"}
    return {root for root in roots if root in FORBIDDEN or root not in allowed}


def engine_modules() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def test_the_engine_has_modules_to_check() -> None:
    names = {path.name for path in engine_modules()}
    assert {"scoring.py", "reference.py", "model.py"} <= names


@pytest.mark.parametrize(
    "path", engine_modules(), ids=lambda p: f"{p.name} imports only pure libraries"
)
def test_engine_module_is_pure(path: Path) -> None:
    assert impurities(path.read_text(encoding="utf-8")) == set()


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import fastapi", {"fastapi"}),
        ("from sqlalchemy.orm import Session", {"sqlalchemy"}),
        ("import smtplib", {"smtplib"}),
        ("def f():\n    import apscheduler.schedulers", {"apscheduler"}),
        ("from prometheus_client import Gauge", {"prometheus_client"}),
        ("import httpx as h", {"httpx"}),
        ("from rapport.signals.model import Client", {"rapport.signals"}),
        ("from rapport.api import app", {"rapport.api"}),
        ("import pandas", {"pandas"}),
        ("import numpy.typing as npt\nfrom pydantic import BaseModel\nimport yaml", set()),
        ("from rapport.engine.model import Scorecard\nfrom . import frame\nimport json", set()),
    ],
    ids=[
        "fastapi is refused",
        "sqlalchemy is refused",
        "smtplib is refused though it is stdlib",
        "an import inside a function is still found",
        "prometheus_client is refused",
        "httpx is refused under an alias",
        "the signals package is refused",
        "the api package is refused",
        "any other third-party package is refused",
        "numpy, pydantic and yaml are allowed",
        "engine modules, relative imports and the stdlib are allowed",
    ],
)
def test_the_check_itself(source: str, found: set[str]) -> None:
    assert impurities(source) == found
