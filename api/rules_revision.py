"""The rules directory as it was at a git revision, for ``rapport rules diff`` (its base),
``rapport validate --rules REV`` and anything else that reviews rules as code.

The directory's subtree of the revision is extracted with ``git archive`` into a temporary
directory (nothing is checked out; the work tree is untouched) and checked by
``api.bundle.check_bundle``, the one rules check, so a revision with invalid rules is every
finding — each path written ``rev:relative/path``, git's notation — never a traceback. Files come
back byte for byte (a YAML position in a finding is the committed file's).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from rapport.api.bundle import RulesBundle, check_bundle
from rapport.api.exit_codes import UsageError
from rapport.engine.errors import Finding
from rapport.engine.loader import MAX_RULES_BYTES

_GIT_TIMEOUT_SECONDS = 30.0


class GitRevisionError(UsageError):
    """A revision git cannot read the rules directory at."""

    def __init__(self, rev: str, directory: Path, reason: str) -> None:
        super().__init__(f"cannot read {directory} at git revision {rev!r}: {reason}")


def git_bytes(directory: Path, rev: str, *args: str) -> bytes:
    """Stdout of ``git args`` in ``directory``; ``GitRevisionError`` (about reading ``rev``) with
    git's own words."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True,
            timeout=_GIT_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        raise GitRevisionError(rev, directory, str(error)) from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitRevisionError(rev, directory, reason[-1] if reason else "git failed")
    return done.stdout


def bundle_at(
    directory: Path, rev: str, *, max_bytes: int = MAX_RULES_BYTES
) -> tuple[RulesBundle | None, list[Finding]]:
    """``check_bundle`` of ``directory`` as committed at ``rev``: the bundle (its version the
    12-hex commit that last touched the directory by ``rev``) or every finding, each path written
    ``rev:relative/path`` (git's notation). ``GitRevisionError`` when ``directory`` is not in a git
    work tree or ``rev`` names no commit."""
    root = directory.resolve()
    if not root.is_dir():
        raise GitRevisionError(rev, directory, "no such directory")
    prefix = git_bytes(root, rev, "rev-parse", "--show-prefix").decode().strip()
    top = Path(git_bytes(root, rev, "rev-parse", "--show-toplevel").decode().strip())
    try:
        git_bytes(
            root, rev, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
    except GitRevisionError:
        raise GitRevisionError(rev, directory, "no commit by that name") from None
    last = git_bytes(root, rev, "log", "-1", "--format=%H", rev, "--", ".").decode().strip()
    with tempfile.TemporaryDirectory(prefix="rapport-rules-") as tmp:
        target = Path(tmp) / "rules"
        target.mkdir()
        if last:  # the directory exists at rev (else: checked empty, "file not found")
            # From the top: run in a subdirectory, git archive narrows to it a second time.
            archive = git_bytes(top, rev, "archive", "--format=tar", f"{rev}:{prefix}")
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(target, filter="data")
        bundle, findings = check_bundle(target, max_bytes=max_bytes)
    if bundle is None:
        return None, [_at_rev(f, target, rev, prefix) for f in findings]
    return replace(bundle, directory=directory, version=last[:12]), []


def _at_rev(finding: Finding, root: Path, rev: str, prefix: str) -> Finding:
    try:
        relative = Path(finding.path).relative_to(root).as_posix()
    except ValueError:
        return finding
    return replace(finding, path=f"{rev}:{prefix}{relative}")


def file_at(directory: Path, rev: str, name: str) -> str:
    """The text of ``name`` (relative to ``directory``) as committed at ``rev``."""
    root = directory.resolve()
    prefix = git_bytes(root, rev, "rev-parse", "--show-prefix").decode().strip()
    return git_bytes(root, rev, "show", f"{rev}:{prefix}{name}").decode("utf-8")
