"""The store keeps its SQL: outside the store's own modules, nothing imports SQLAlchemy or reaches
for the store's engine or connections.

Every package module is parsed with ``ast`` (nothing is imported to check it), so a leak fails
here even inside a function body or an ``if TYPE_CHECKING`` block.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rapport.signals.store import Store

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "signals", "api")
#: The store: these modules (and the migrations) are the only ones that hold SQL.
STORE_MODULES = {
    f"signals/{name}.py"
    for name in (
        "store",
        "database",
        "schema",
        "writer",
        "dbapi",
        "history",
        "collector_state",
        "idempotency",
        "locks",
        "outbox",
        "alerts",
        "loading",
        "arrow_reader",
        "sqlite_reader",
    )
}
#: Not the store: the SQL collector queries a *source* database the user names, never the store.
SOURCE_CONNECTORS = {"signals/collectors/sql.py"}
#: What only the store's modules may touch on a ``Store``: its engine and its connections.
STORE_INTERNALS = {"engine", "_engine", "_reading", "_locked", "_connection"}


def _is_store_module(relative: str) -> bool:
    return relative in STORE_MODULES or relative.startswith("signals/migrations/")


def _outside_modules() -> list[tuple[str, str]]:
    """``(path relative to the repository, source)`` of every package module outside the store."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not _is_store_module(relative):
                found.append((relative, path.read_text(encoding="utf-8")))
    return found


def sqlalchemy_imports(source: str) -> list[int]:
    """Lines of ``source`` that import sqlalchemy (or alembic, the store's migration tool)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(name.split(".")[0] in ("sqlalchemy", "alembic") for name in names):
            lines.append(node.lineno)
    return lines


def internal_uses(source: str) -> list[int]:
    """Lines of ``source`` that read one of ``STORE_INTERNALS`` off anything whose name says store
    (``store.engine``, ``self._store._engine``, ``service.store._reading``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in STORE_INTERNALS:
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if "store" in name.lower():
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sqlalchemy as sa", [1]),
        ("x = 1\nfrom sqlalchemy.exc import DBAPIError", [2]),
        ("def f():\n    from alembic import command", [2]),
        ("from rapport.signals.store import Store", []),
    ],
    ids=[
        "a plain sqlalchemy import is found",
        "a submodule import is found on its line",
        "an import inside a function is found",
        "importing the store is fine",
    ],
)
def test_sqlalchemy_imports_are_found(source: str, expected: list[int]) -> None:
    assert sqlalchemy_imports(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("store.engine.connect()", [1]),
        ("self._store._engine", [1]),
        ("with service.store._reading() as c: pass", [1]),
        ("engine.url", []),
        ("store.clients()", []),
    ],
    ids=[
        "a store's engine is found",
        "a private engine through self._store is found",
        "a store's connection helper is found",
        "an engine of one's own is fine",
        "a store method is fine",
    ],
)
def test_reaching_into_a_store_is_found(source: str, expected: list[int]) -> None:
    assert internal_uses(source) == expected


def test_only_the_store_modules_import_sqlalchemy() -> None:
    leaks = {
        relative: lines
        for relative, source in _outside_modules()
        if relative not in SOURCE_CONNECTORS and (lines := sqlalchemy_imports(source))
    }
    assert leaks == {}


def test_nothing_outside_the_store_reaches_into_it() -> None:
    leaks = {
        relative: lines
        for relative, source in _outside_modules()
        if (lines := internal_uses(source))
    }
    assert leaks == {}


def test_the_store_has_no_public_engine() -> None:
    assert not hasattr(Store, "engine")


def test_the_store_modules_named_here_exist() -> None:
    missing = {m for m in STORE_MODULES | SOURCE_CONNECTORS if not (ROOT / m).is_file()}
    assert missing == set()
