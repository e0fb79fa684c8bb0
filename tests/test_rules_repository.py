"""What a rules repository uses of Rapport: the pre-commit hooks (``.pre-commit-hooks.yaml``) and
the GitHub Actions recipe (``examples/github/rules-ci.yml``), run as written.

The recipe's test builds a throwaway rules repository (a base commit on main, a change on a
branch), clones it fresh, and runs each of the workflow's ``rapport`` steps — its own ``run:``
lines, read from the YAML — with the installed ``rapport``, in the clone, with the workflow's
environment. Only the steps that need GitHub are left out: installing Rapport (it is installed)
and posting the comment (``gh``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pre_commit.clientlib import load_manifest

from rapport.signals.demo import demo_signals
from rapport.signals.registry import load_clients_file
from rapport.signals.store import Store

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOW = REPO / "examples" / "github" / "rules-ci.yml"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Rules Author", "GIT_AUTHOR_EMAIL": "rules@example.com",
    "GIT_COMMITTER_NAME": "Rules Author", "GIT_COMMITTER_EMAIL": "rules@example.com",
}  # fmt: skip


def run(command: str | list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, shell=isinstance(command, str), capture_output=True, text=True,
        env={**os.environ, **GIT_ENV, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
             **(env or {})},
        check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


def test_the_hooks_load_with_pre_commits_own_loader_and_run(tmp_path: Path) -> None:
    hooks = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert [h["id"] for h in hooks] == ["rapport-rules-check", "rapport-rules-test"]
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    for hook in hooks:
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        # As pre-commit runs it: the entry, the hook's args, from the repository's root.
        run([*shlex.split(hook["entry"]), *hook["args"]], cwd=tmp_path)


def workflow_steps() -> tuple[dict[str, str], list[dict[str, Any]]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["rules"]
    return job["env"], job["steps"]


def rules_repository(root: Path) -> Path:
    """A rules repository on disk: the shipped rules on main and, on a branch, a change the rule
    tests still pass (they test scores, not alerts): score_critical fires below 60, not 50."""
    origin = root / "origin"
    shutil.copytree(REPO / "rules", origin / "rules")
    run(["git", "init", "--quiet", "--initial-branch=main"], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "--quiet", "-m", "the rules as shipped"], origin)
    run(["git", "checkout", "--quiet", "-b", "earlier-critical"], origin)
    alerts = origin / "rules" / "alerts.yaml"
    text = alerts.read_text()
    for old, new in (("{score: {below: 50}}", "{score: {below: 60}}"),
                     ("{score: {at_least: 55}}", "{score: {at_least: 65}}")):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    alerts.write_text(text)
    run(["git", "commit", "--quiet", "-am", "score_critical from 60"], origin)
    return origin


def test_the_ci_recipe_works_as_written_on_a_fresh_clone(tmp_path: Path) -> None:
    origin = rules_repository(tmp_path)
    clone = tmp_path / "clone"  # what actions/checkout with fetch-depth 0 leaves
    run(
        ["git", "clone", "--quiet", "--branch", "earlier-critical", str(origin), str(clone)],
        tmp_path,
    )
    url = f"sqlite:///{tmp_path}/replica.db"
    with Store.open(url) as store:
        clients = load_clients_file(REPO / "rules" / "clients.yaml")
        store.upsert_clients(clients)
        store.upsert_signals(demo_signals(clients, end=datetime.now(UTC)))
    env, steps = workflow_steps()
    env = {**env, "RAPPORT_DATABASE_URL": url}  # the secret
    ran = []
    for step in steps:
        command = step.get("run")
        if command is None or not command.startswith("rapport "):
            continue  # actions, the install step, the gh comment
        run(command, cwd=clone, env={**env, **step.get("env", {})})
        ran.append(command.split()[:3])
    assert ran == [["rapport", "rules", "check"], ["rapport", "rules", "test"],
                   ["rapport", "rules", "diff"]]  # fmt: skip
    comment = (clone / "rules-diff.md").read_text()
    assert comment.startswith("### Rapport rules diff: `")
    assert "the same alerts" not in comment, "the change must show in the alerts"
    assert "<summary>Alerts (" in comment


def test_the_comment_step_posts_the_file_the_diff_step_wrote() -> None:
    _, steps = workflow_steps()
    posting = [s for s in steps if "gh pr comment" in s.get("run", "")]
    assert len(posting) == 1 and "--body-file rules-diff.md" in posting[0]["run"]
    assert "GH_TOKEN" in posting[0]["env"]
