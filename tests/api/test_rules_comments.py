"""The shipped rules' comments name only commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.api.cli import app

RULES = Path(__file__).resolve().parents[2] / "rules"
NAMED = re.compile(r"`rapport ((?:[a-z]+ ?)+)")
COMMANDS = sorted(
    {m.strip() for f in RULES.rglob("*.yaml") for m in NAMED.findall(f.read_text("utf-8"))}
)


def test_the_scorecard_comment_names_rules_test() -> None:
    assert "rules test" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=[f"`rapport {c}` exists" for c in COMMANDS])
def test_every_command_a_rules_comment_names_exists(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
