"""``rapport validate --rules REV|DIR``: the rules to replay with, from a directory or from a
git revision of the rules directory.

A revision is read by ``api.rules_revision`` (the one reader of rules at a git revision, which
``rules diff`` uses too), so a revision with invalid rules is every finding, not a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rapport.api.bundle import RulesBundle, load_bundle
from rapport.api.exit_codes import UsageError
from rapport.api.rules_revision import GitRevisionError, bundle_at, file_at
from rapport.engine.errors import RulesError


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
    ``given`` (``api.rules_revision``); the bundle's version then names the revision and its
    commit. Invalid rules at the revision raise ``RulesError`` with every finding."""
    if given is None:
        return _from_directory(rules_dir, max_bytes)
    if Path(given).is_dir():
        return _from_directory(Path(given), max_bytes)
    try:
        bundle, findings = bundle_at(rules_dir, given, max_bytes=max_bytes)
    except GitRevisionError:
        raise UnknownRulesError(given, rules_dir) from None
    if bundle is None:
        raise RulesError(findings)
    text = file_at(rules_dir, given, "scorecard.yaml")
    return Rules(replace(bundle, version=f"{given}@{bundle.version}"), text)
