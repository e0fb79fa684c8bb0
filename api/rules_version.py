"""Which rules a score was computed with: the git commit of the rules directory, or its content.

Discovering the version is IO (it runs ``git`` and reads every YAML file), so it lives here at the
edge, next to the bundle loader (``api.bundle``); the engine only ever receives the string.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

_GIT_TIMEOUT_SECONDS = 10.0


def _git(directory: Path, *args: str) -> str | None:
    """Stdout of ``git args`` run in ``directory``; None when git is missing, fails or hangs."""
    # Optional locks off: a status query from a running server must not take the index lock.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def content_hash(directory: str | Path) -> str:
    """``sha256:<12 hex>`` over the sorted (relative path, bytes) of every YAML file under it."""
    root = Path(directory)
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for p in root.rglob("*")
        if p.suffix in (".yaml", ".yml") and ".git" not in p.relative_to(root).parts and p.is_file()
    )
    digest = hashlib.sha256()
    for relative, file in files:
        content = file.read_bytes()
        # Length-prefixed so that moving bytes between a name and a content changes the hash.
        for part in (relative.encode(), content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return f"sha256:{digest.hexdigest()[:12]}"


def rules_version(directory: str | Path) -> str:
    """Which rules a score was computed with.

    Inside a git work tree: the 12-hex hash of the last commit touching ``directory``, plus
    ``+dirty.<8 hex>`` when it has uncommitted changes (untracked files included), the hex being
    the start of ``content_hash(directory)``: two different uncommitted edits are two versions,
    and undoing an edit gives the earlier version back. Outside git, before the first commit, or
    when git is missing or fails: ``content_hash(directory)``.
    """
    root = Path(directory)
    commit = _git(root, "log", "-1", "--format=%H", "--", ".")
    if commit:
        status = _git(root, "status", "--porcelain", "--", ".")
        if status is not None:
            if not status:
                return commit[:12]
            return f"{commit[:12]}+dirty.{content_hash(root).removeprefix('sha256:')[:8]}"
    return content_hash(root)
