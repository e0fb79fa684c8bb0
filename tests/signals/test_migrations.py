"""The store's migrations form one line: unique revision ids, each revising the one before, one
head. Two branches that each add "the next" migration would otherwise both be 0005, and every
store would refuse to open ("Multiple head revisions")."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

VERSIONS = Path(__file__).resolve().parents[2] / "signals" / "migrations" / "versions"


def _revisions() -> dict[str, str | None]:
    """``{revision: down_revision}`` of every migration file, read with ast (nothing imported)."""
    found: dict[str, str | None] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        values: dict[str, str | None] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            named = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            if named and node.target.id in ("revision", "down_revision") and node.value:
                values[node.target.id] = ast.literal_eval(node.value)
        revision = values["revision"]
        assert revision is not None and revision not in found, f"{path.name}: {revision} again"
        assert path.name.startswith(f"{revision}_"), f"{path.name} holds revision {revision}"
        found[revision] = values["down_revision"]
    return found


def test_every_migration_revises_the_one_before_it_in_one_line() -> None:
    revisions = _revisions()
    ordered = sorted(revisions)
    assert revisions[ordered[0]] is None
    for before, after in itertools.pairwise(ordered):
        assert revisions[after] == before, f"{after} should revise {before}"
