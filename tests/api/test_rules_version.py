"""The rules version, discovered at the edge: the git commit of the rules directory, or a hash
of its YAML content (moved with ``rules_version`` out of the pure engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rapport.api.rules_version import content_hash, rules_version

MINIMAL = """\
version: 1
grades:
  - {name: ok, min: 0, color: green}
components:
  responsiveness:
    signal: response_time
    aggregate: mean
    weight: 1
    curve:
      linear: {best: 4, worst: 72}
"""


# --- rules_version --------------------------------------------------------------------------------

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory git will not search above, so a repository around tmp cannot leak in."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


@pytest.fixture
def repo(outside_git: Path) -> Path:
    root = outside_git / "repo"
    (root / "rules").mkdir(parents=True)
    _git(root, "init", "-q")
    (root / "rules" / "scorecard.yaml").write_text(MINIMAL)
    return root


@needs_git
def test_rules_version_before_the_first_commit_is_the_content_hash(repo: Path) -> None:
    rules = repo / "rules"
    assert rules_version(rules) == content_hash(rules)
    assert rules_version(rules).startswith("sha256:")


@needs_git
def test_rules_version_of_a_clean_tree_is_the_last_commit_touching_it(repo: Path) -> None:
    rules = repo / "rules"
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "rules")
    rules_commit = _git(repo, "rev-parse", "HEAD")
    # A later commit elsewhere in the repository does not change the rules' version.
    (repo / "README.md").write_text("hello\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "docs")

    assert rules_version(rules) == rules_commit[:12]
    assert len(rules_version(rules)) == 12


@needs_git
@pytest.mark.parametrize(
    "change",
    [
        pytest.param("edit", id="an edited tracked file makes the version dirty"),
        pytest.param("untracked", id="an untracked file makes the version dirty"),
    ],
)
def test_rules_version_of_a_changed_tree_is_dirty(repo: Path, change: str) -> None:
    rules = repo / "rules"
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "rules")
    commit = _git(repo, "rev-parse", "HEAD")[:12]
    if change == "edit":
        (rules / "scorecard.yaml").write_text(MINIMAL.replace("weight: 1", "weight: 2"))
    else:
        (rules / "clients.yaml").write_text("version: 1\nclients: []\n")

    dirty = content_hash(rules).removeprefix("sha256:")[:8]
    assert rules_version(rules) == f"{commit}+dirty.{dirty}"


@needs_git
def test_different_uncommitted_edits_are_different_versions(repo: Path) -> None:
    rules = repo / "rules"
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "rules")
    commit = _git(repo, "rev-parse", "HEAD")[:12]
    versions = []
    for weight in ("2", "3", "2"):
        (rules / "scorecard.yaml").write_text(MINIMAL.replace("weight: 1", f"weight: {weight}"))
        versions.append(rules_version(rules))
    assert all(v.startswith(f"{commit}+dirty.") and len(v) == 12 + 7 + 8 for v in versions)
    assert versions[0] != versions[1], "a second, different edit must be a new version"
    assert versions[0] == versions[2], "the same content is the same version"
    (rules / "scorecard.yaml").write_text(MINIMAL)
    assert rules_version(rules) == commit, "undoing the edits is the clean version again"


@needs_git
def test_changes_outside_the_rules_directory_keep_it_clean(repo: Path) -> None:
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "rules")
    (repo / "notes.txt").write_text("not rules\n")
    assert not rules_version(repo / "rules").endswith("+dirty")


def test_rules_version_outside_git_is_a_content_hash_that_follows_the_content(
    outside_git: Path,
) -> None:
    rules = outside_git / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "scorecard.yaml").write_text(MINIMAL)
    (rules / "tests" / "a.yml").write_text("version: 1\n")
    (rules / "notes.txt").write_text("not part of the rules\n")
    first = rules_version(rules)

    assert first == content_hash(rules)
    assert len(first) == len("sha256:") + 12
    (rules / "notes.txt").write_text("changed, but not YAML\n")
    assert rules_version(rules) == first
    (rules / "tests" / "a.yml").write_text("version: 1\n# changed\n")
    assert rules_version(rules) != first


def test_content_hash_depends_on_names_as_well_as_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "one.yaml").write_text("x: 1\n")
    (b / "two.yaml").write_text("x: 1\n")
    assert content_hash(a) != content_hash(b)


def test_rules_version_without_git_installed_is_the_content_hash(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = repo / "rules"
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    assert rules_version(rules) == content_hash(rules)
