"""Two rules bundles replayed over the stored signals, and their difference: the shell around
``engine.replay`` and ``engine.rules_diff`` that ``rapport rules diff`` and
``POST /api/v1/rules/preview`` share.

- ``bundle_at(directory, rev)`` checks the rules directory as it was at a git revision: the
  directory's subtree of ``rev`` is extracted (``git archive``) into a temporary directory and
  checked by ``api.bundle.check_bundle``, the one rules check; findings name ``rev:path``.
- ``diff_bundles(store, base, head, instants)`` loads the signals once (up to the last instant)
  and replays both bundles over them — scores, grades, coverage and alerts, each step seeing the
  signals as they were known then — and returns the ``RulesDiff``. Nothing is written.

Both bundles score the same clients (the registry, plus those a bundle's ``clients.yaml`` lists,
each with the segment its bundle gives it), so a changed segment in ``clients.yaml`` is part of
the change being reviewed.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

from rapport.api.alerts import source_ages
from rapport.api.bundle import RulesBundle, check_bundle
from rapport.api.exit_codes import UsageError
from rapport.engine.errors import Finding
from rapport.engine.frame import ClientSet, FloatArray, SignalSet
from rapport.engine.loader import MAX_RULES_BYTES
from rapport.engine.replay import Replay, Side, Sources, SourcesAt, replay, replay_together
from rapport.engine.rules_diff import RulesDiff, diff
from rapport.signals.collectors.runner import covered_kinds, stale_kinds
from rapport.signals.frames import build_stale_masks
from rapport.signals.model import Client
from rapport.signals.store import Store

_GIT_TIMEOUT_SECONDS = 30.0


class GitRevisionError(UsageError):
    """A revision git cannot read the rules directory at."""

    def __init__(self, rev: str, directory: Path, reason: str) -> None:
        super().__init__(f"cannot read {directory} at git revision {rev!r}: {reason}")


def _git(directory: Path, rev: str, *args: str) -> bytes:
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
    prefix = _git(root, rev, "rev-parse", "--show-prefix").decode().strip()
    top = Path(_git(root, rev, "rev-parse", "--show-toplevel").decode().strip())
    try:
        _git(root, rev, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except GitRevisionError:
        raise GitRevisionError(rev, directory, "no commit by that name") from None
    last = _git(root, rev, "log", "-1", "--format=%H", rev, "--", ".").decode().strip()
    with tempfile.TemporaryDirectory(prefix="rapport-rules-") as tmp:
        target = Path(tmp) / "rules"
        target.mkdir()
        if last:  # the directory exists at rev (else: checked empty, "file not found")
            # From the top: run in a subdirectory, git archive narrows to it a second time.
            archive = _git(top, rev, "archive", "--format=tar", f"{rev}:{prefix}")
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


def clients_of(registry: Sequence[Client], bundle: RulesBundle, ids: Sequence[str]) -> ClientSet:
    """``ids`` with the segment ``bundle``'s ``clients.yaml`` gives them, else the registry's."""
    segments = {c.id: c.segment for c in registry}
    segments.update({c.id: c.segment for c in bundle.clients or ()})
    return ClientSet.of(list(ids), [segments.get(cid) for cid in ids])


def sources_of(
    store: Store, bundle: RulesBundle, registry: Sequence[Client], clients: ClientSet
) -> SourcesAt | None:
    """What ``bundle``'s collectors say of the sources at each instant (None: it has none)."""
    config = bundle.collectors
    if config is None:
        return None
    known = tuple(registry)

    def at(instant: datetime) -> Sources:
        ages = source_ages(store, bundle, known, instant)
        row = {c.id: i for i, c in enumerate(known)}
        order = [row.get(cid) for cid in clients.ids]
        return Sources(
            stale=build_stale_masks(clients, stale_kinds(store, config, instant)),
            covered=build_stale_masks(clients, covered_kinds(store, config, instant)),
            source_age={k: _realign(v, order) for k, v in ages.items()},
        )

    return at


def _realign(values: FloatArray, order: Sequence[int | None]) -> FloatArray:
    """``values`` (registry rows) in the rows ``order`` names (None: not in the registry)."""
    out = np.full(len(order), np.nan)
    pairs = [(i, row) for i, row in enumerate(order) if row is not None]
    if pairs:
        into, source = (list(side) for side in zip(*pairs, strict=True))
        out[into] = values[source]
    return out


def replay_bundle(  # noqa: PLR0917 (the store, the rules, and what to replay them over)
    store: Store,
    bundle: RulesBundle,
    registry: Sequence[Client],
    ids: Sequence[str],
    signals: SignalSet,
    instants: Sequence[datetime],
    *,
    keep: bool = False,
) -> Replay:
    """``bundle`` replayed over ``instants`` for the clients ``ids`` (``signals`` in their rows)."""
    clients = clients_of(registry, bundle, ids)
    return replay(
        bundle.scorecard, clients, signals, instants, bundle.version,
        alerts=bundle.alerts, sources=sources_of(store, bundle, registry, clients), keep=keep,
    )  # fmt: skip


def diff_bundles(
    store: Store, base: RulesBundle, head: RulesBundle, instants: Sequence[datetime]
) -> RulesDiff:
    """What ``head`` changes against ``base`` over ``instants``, from the signals stored now."""
    registry = store.clients()
    listed = [c.id for c in (*(base.clients or ()), *(head.clients or ()))]
    ids = sorted({c.id for c in registry} | set(listed))
    signals = store.signal_set(ClientSet.of(ids), until=instants[-1])
    if base.collectors != head.collectors:  # the sources differ per side: no sharing
        return diff(
            replay_bundle(store, base, registry, ids, signals, instants),
            replay_bundle(store, head, registry, ids, signals, instants),
        )
    sides = [
        Side(b.scorecard, clients_of(registry, b, ids), b.version, b.alerts) for b in (base, head)
    ]
    sources = sources_of(store, base, registry, sides[0].clients)
    return diff(*replay_together(sides, signals, instants, sources=sources))
