"""The wheel stands alone: built from the tracked sources, installed into a fresh venv outside the
repository with the locked versions, ``rapport`` initialises a rules directory and scores the
demo from a directory that has nothing of the checkout in it.

Slow by nature (a build, a venv and an install of the runtime dependencies: about a minute with a
warm pip cache); the network it uses is pip reaching the package index, nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lockfile import LOCK, ROOT, constraints_text, read_lock

#: what `rapport init` writes: the four rules files, the shipped rule tests, the sample exports
STARTER_FILES = [
    *("scorecard.yaml", "clients.yaml", "alerts.yaml", "collectors.yaml"),
    *(ROOT / "rules/tests").glob("*.yaml"),
    *(ROOT / "examples/exports").glob("*.csv"),
    *(ROOT / "rules/.schema").glob("*.json"),
]
#: one rule-test result per client expectation of the shipped rule tests
SHIPPED_EXPECTATIONS = sum(
    len(yaml.safe_load(path.read_text(encoding="utf-8"))["expect"])
    for path in (ROOT / "rules/tests").glob("*.yaml")
)

TIMEOUT = 600  # seconds for one pip step on a cold cache; a warm one takes seconds


@dataclass(frozen=True)
class Installed:
    """A venv with only the wheel (and its locked dependencies) in it, and a scratch cwd."""

    bin: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "rapport"), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def tracked_sources(destination: Path) -> Path:
    """Copy the files git tracks (or would: untracked but not ignored) to ``destination``.

    Building from the copy proves the release needs nothing untracked, and leaves no build/ or
    egg-info in the worktree.
    """
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet staged is still listed
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return destination


def clean_env() -> dict[str, str]:
    """This process's environment without anything that points back into the checkout."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    return {
        k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("RAPPORT_")
    }


def check(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run a build or install step; fail the test with its output if it fails."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    source = tracked_sources(base / "src")
    dist = base / "dist"
    # sdist first, then the wheel built from the unpacked sdist (build's default): both artifacts,
    # and the wheel proves the sdist complete. No isolation: the locked setuptools of this venv.
    check([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist)], cwd=source)
    (wheel,) = dist.glob("rapport-*.whl")
    assert list(dist.glob("rapport-*.tar.gz")), "no sdist"
    venv = base / "venv"
    env = clean_env()
    check([sys.executable, "-m", "venv", str(venv)], env=env)
    constraints = base / "constraints.txt"
    constraints.write_text(constraints_text(read_lock(LOCK.read_text())))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    check([*pip, "--constraint", str(constraints), str(wheel)], env=env, cwd=base)
    cwd = base / "elsewhere"
    cwd.mkdir()
    yield Installed(venv / "bin", cwd, env)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    code = "import rapport.api, rapport.rules; print(rapport.api.__file__)"
    result = subprocess.run(
        [str(installed.bin / "python"), "-c", code],
        cwd=installed.cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    location = Path(result.stdout.strip())
    assert location.is_relative_to(installed.bin.parent), location
    assert not location.is_relative_to(ROOT)


def test_the_wheel_initialises_checks_tests_collects_and_scores_the_demo_anywhere(
    installed: Installed,
) -> None:
    result = installed.run("--help")
    assert result.returncode == 0, result.stderr
    assert "init" in result.stdout and "demo" in result.stdout

    result = installed.run("init", "myrules")
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(STARTER_FILES)} files to myrules" in result.stdout

    result = installed.run("init", "myrules")
    assert result.returncode == 2
    assert result.stderr.startswith("error: files already exist: myrules/")

    result = installed.run("rules", "check", "myrules")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("myrules: rules OK (version ")

    result = installed.run("rules", "test", "myrules")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{SHIPPED_EXPECTATIONS} passed, 0 failed" in result.stdout

    db = f"sqlite:///{installed.cwd}/x.db"
    result = installed.run("--rules-dir", "myrules", "--database-url", db, "demo")
    assert result.returncode == 0, result.stderr
    assert "seeded the demo: 60 clients" in result.stderr
    assert "quanta-energy" in result.stdout

    result = installed.run("--rules-dir", "myrules", "--database-url", db, "collect", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "helpdesk_exports" in result.stdout
