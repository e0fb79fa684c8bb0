"""``rapport`` starts like a well-made tool: ``--help`` loads no heavy module, ``rules check``
loads no web or database stack, and shell completion is one option away.

Each test runs a fresh interpreter, since what a process imports is the cost users wait for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "rules"

# The CLI's entry point in a fresh interpreter; then which of the watched modules it imported.
PROBE = """\
import json, sys
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["rapport", *args]
from rapport.api.cli import main
try:
    main()
except SystemExit as stop:
    print(json.dumps({"code": stop.code, "loaded": [m for m in watched if m in sys.modules]}))
"""


def imported(args: list[str], watched: list[str]) -> tuple[int, list[str]]:
    """The exit code of ``rapport ARGS`` and which ``watched`` modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(watched)],
        capture_output=True, text=True, check=False, timeout=120, cwd=RULES.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    return report["code"], report["loaded"]


@pytest.mark.parametrize(
    "args",
    [["--help"], ["rules", "--help"], ["serve", "--help"], ["collect", "--help"]],
    ids=lambda a: f"rapport {' '.join(a)} imports no web, database or numeric stack",
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    code, loaded = imported(args, ["fastapi", "sqlalchemy", "numpy", "uvicorn", "alembic"])
    assert code == 0
    assert loaded == []


def test_rules_check_imports_no_web_or_database_stack() -> None:
    code, loaded = imported(
        ["rules", "check", str(RULES)], ["fastapi", "sqlalchemy", "uvicorn", "alembic"]
    )
    assert code == 0
    assert loaded == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_a_script_for_the_shell(shell: str) -> None:
    rapport = Path(sys.executable).with_name("rapport")
    done = subprocess.run(
        [str(rapport), "--show-completion", shell],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "SHELL": f"/bin/{shell}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "_RAPPORT_COMPLETE" in done.stdout
    assert "complete" in done.stdout


def test_completion_protocol_completes_command_names() -> None:
    rapport = Path(sys.executable).with_name("rapport")
    done = subprocess.run(
        [str(rapport)],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "_RAPPORT_COMPLETE": "complete_bash", "COMP_WORDS": "rapport ru",
             "COMP_CWORD": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rules" in done.stdout.split()
