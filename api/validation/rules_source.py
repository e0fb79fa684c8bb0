"""``rapport validate --rules REV|DIR``: the rules to replay with, from a directory or from a
git revision of the rules directory.

A revision is read with ``git ls-tree`` and ``git show`` (nothing is checked out; the work tree
is untouched) into a temporary directory, then checked like any rules directory
(``api.bundle.check_bundle``), so a revision with invalid rules is every finding, not a
traceback.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from rapport.api.bundle import RulesBundle, load_bundle
from rapport.api.exit_codes import UsageError
from rapport.api.rules_version import git


class UnknownRulesError(UsageError):
    def __init__(self, given: str, directory: Path) -> None:
        super().__init__(
            f"--rules {given!r} is neither a directory nor a git revision of {directory}"
        )


@dataclass(frozen=True)
class Rules:
    """A loaded bundle and its scorecard file's text (what ``--suggest`` diffs against)."""

    bundle: RulesBundle
    scorecard_text: str


def _from_directory(directory: Path, max_bytes: int) -> Rules:
    bundle = load_bundle(directory, max_bytes=max_bytes)
    text = (directory / "scorecard.yaml").read_text(encoding="utf-8")
    return Rules(bundle, text)


def rules_for(given: str | None, rules_dir: Path, *, max_bytes: int) -> Rules:
    """The serving rules (``given`` None), a directory's, or ``rules_dir`` as of revision
    ``given``; the bundle's version then names the revision and its commit."""
    if given is None:
        return _from_directory(rules_dir, max_bytes)
    if Path(given).is_dir():
        return _from_directory(Path(given), max_bytes)
    root = rules_dir.resolve()
    commit = git(root, "rev-parse", "--verify", "--quiet", f"{given}^{{commit}}")
    prefix = git(root, "rev-parse", "--show-prefix")
    if not commit or prefix is None:
        raise UnknownRulesError(given, rules_dir)
    listed = git(root, "ls-tree", "-r", "--name-only", "--full-tree", commit, "--", prefix or ".")
    with tempfile.TemporaryDirectory(prefix="rapport-rules-") as temp:
        target = Path(temp)
        for name in (listed or "").splitlines():
            text = git(root, "show", f"{commit}:{name}")
            relative = Path(name).relative_to(prefix) if prefix else Path(name)
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_text((text or "") + "\n", encoding="utf-8")
        rules = _from_directory(target, max_bytes)
    return Rules(replace(rules.bundle, version=f"{given}@{commit[:12]}"), rules.scorecard_text)
