"""The engine stays pure: its modules import only the standard library, numpy, pydantic and yaml,
spawn no process and touch no file except where the loader reads a rules file's text.

Every ``engine/**/*.py`` is parsed with ``ast`` (nothing is imported to check it), so a forbidden
import fails here even inside a function body or an ``if TYPE_CHECKING`` block. The IO rule: no
call of ``open``, of an ``os`` process or directory function, or of a file-system method
(``read_text``, ``rglob``, ``is_file``, …) in any engine function but the ones in ``IO_ALLOWED``.
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
    # processes, and the file system beyond reading one rules file (see IO_ALLOWED)
    "subprocess",
    "multiprocessing",
    "pty",
    "shutil",
    "tempfile",
    "glob",
    "socket",
}

#: Functions (module file name, function name) allowed to touch the file system: the one read of
#: a rules file's text. Everything else in the engine receives text, never a path to read.
IO_ALLOWED = {("loader.py", "read_rules_text")}
#: Calls that are IO whatever they are called on: ``open(…)``, ``path.read_text()``, ``os.walk``.
IO_NAMES = {
    "open", "system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp", "remove",
}  # fmt: skip
IO_PREFIXES = ("exec", "spawn")  # os.execv, os.spawnl, …
IO_METHODS = {
    "read_text", "read_bytes", "write_text", "write_bytes", "open", "rglob", "glob", "iterdir",
    "is_file", "is_dir", "exists", "stat", "lstat", "mkdir", "rmdir", "unlink", "touch",
    "rename", "listdir", "scandir", "walk", "makedirs", "chdir",
}  # fmt: skip
# (not "remove" or "replace": lists and strings have those too; os.remove is in IO_NAMES)


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


def _io_call(call: ast.Call) -> str | None:
    """The name of the IO ``call`` makes, or None: ``open``, ``.read_text``, ``os.system``."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open":
        return "open"
    if not isinstance(func, ast.Attribute):
        return None
    on_os = isinstance(func.value, ast.Name) and func.value.id == "os"
    if on_os and (func.attr in IO_NAMES or func.attr.startswith(IO_PREFIXES)):
        return f"os.{func.attr}"
    return f".{func.attr}" if func.attr in IO_METHODS else None


def io_calls(source: str, module: str = "<test>") -> set[str]:
    """``function: call`` for every IO call in ``source`` outside the ``IO_ALLOWED`` functions
    (calls at module level are reported as ``<module>: call``)."""
    found: set[str] = set()

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if (module, function) in IO_ALLOWED:
            return
        if isinstance(node, ast.Call) and (name := _io_call(node)) is not None:
            found.add(f"{function}: {name}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), "<module>")
    return found


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


@pytest.mark.parametrize(
    "path", engine_modules(), ids=lambda p: f"{p.name} spawns no process and reads no file"
)
def test_engine_module_does_no_io(path: Path) -> None:
    assert io_calls(path.read_text(encoding="utf-8"), path.name) == set()


def test_the_loader_reads_rules_text_in_exactly_one_function() -> None:
    """The allowance is used, so a renamed reader cannot leave a stale exemption behind."""
    source = (ENGINE / "loader.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    reader = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "read_rules_text"
    )
    assert io_calls(ast.unparse(reader)) == {"read_rules_text: .open"}


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import subprocess", {"subprocess"}),
        ("from subprocess import run", {"subprocess"}),
        ("import shutil", {"shutil"}),
        ("import multiprocessing.pool", {"multiprocessing"}),
    ],
    ids=[
        "subprocess is refused",
        "a name from subprocess is refused",
        "shutil is refused",
        "multiprocessing is refused",
    ],
)
def test_process_and_file_system_modules_are_refused(source: str, found: set[str]) -> None:
    assert impurities(source) == found


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def f(p):\n    return open(p).read()", {"f: open"}),
        ("def f(p):\n    return p.read_text()", {"f: .read_text"}),
        ("def f(p):\n    return p.read_bytes()", {"f: .read_bytes"}),
        ("def f(root):\n    return list(root.rglob('*'))", {"f: .rglob"}),
        ("def f(p):\n    return p.is_file()", {"f: .is_file"}),
        ("import os\ndef f():\n    os.system('git log')", {"f: os.system"}),
        ("import os\ndef f():\n    os.execvp('git', ['git'])", {"f: os.execvp"}),
        ("import os\nFILES = os.listdir('.')", {"<module>: .listdir"}),
        (
            "def f(p):\n    def g():\n        return p.write_text('x')\n    return g",
            {"g: .write_text"},
        ),
        ("def f(text):\n    return text.split()", set()),
        ("def read_rules_text(p):\n    return p.read_text()", {"read_rules_text: .read_text"}),
    ],
    ids=[
        "open is refused",
        "Path.read_text is refused",
        "Path.read_bytes is refused",
        "rglob is refused",
        "is_file is refused",
        "os.system is refused",
        "os.exec* is refused",
        "IO at module level is refused",
        "IO in a nested function is refused",
        "working on text is allowed",
        "the rules reader is allowed only in the loader module",
    ],
)
def test_the_io_check_itself(source: str, found: set[str]) -> None:
    assert io_calls(source) == found


def test_the_rules_reader_is_allowed_in_the_loader() -> None:
    assert io_calls("def read_rules_text(p):\n    return p.read_text()", "loader.py") == set()
