"""requirements.lock agrees with pyproject.toml: every package `.[dev,bench,validate]` needs,
transitively, is pinned exactly (with hashes) within every range that asks for it, and nothing else
is pinned.

The dependency graph is read from the metadata of the packages installed in this venv, which
`make` installs from the lock itself; so a test failure means "run `make lock`".
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections import deque

import pytest
from lockfile import LOCK, ROOT, applicable_pins, read_lock
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

EXTRAS = ("dev", "bench", "validate")


def project_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies plus those of the dev, bench and validate extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = [
        *project["dependencies"],
        *(t for e in EXTRAS for t in project["optional-dependencies"][e]),
    ]
    return [Requirement(text) for text in texts]


def applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``requirement`` is wanted here, by a package installed with ``extras``."""
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""})


def needed(roots: list[Requirement]) -> list[tuple[str, Requirement]]:
    """Every (asker, requirement) reachable from ``roots`` through installed metadata."""
    found: list[tuple[str, Requirement]] = []
    queue = deque(("pyproject.toml", r, frozenset[str]()) for r in roots)
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while queue:
        asker, requirement, asker_extras = queue.popleft()
        if not applies(requirement, asker_extras):
            continue
        found.append((asker, requirement))
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = importlib.metadata.distribution(requirement.name)
        for text in dist.requires or []:
            queue.append((requirement.name, Requirement(text), frozenset(requirement.extras)))
    return found


def test_every_lock_entry_is_an_exact_pin_with_hashes() -> None:
    pins = read_lock(LOCK.read_text())
    assert len(pins) > 40, "the lock was read as (nearly) empty"
    for pin in pins:
        specifiers = list(pin.requirement.specifier)
        assert [s.operator for s in specifiers] == ["=="], f"line {pin.line}: not exact: {pin}"
        assert pin.hashes, f"line {pin.line}: {pin.requirement.name} has no --hash"
        assert all(h.startswith("sha256:") for h in pin.hashes), f"line {pin.line}"


def test_the_lock_names_no_index_or_url() -> None:
    text = LOCK.read_text()
    for option in ("--index-url", "--extra-index-url", "--find-links", "-i ", "://"):
        assert option not in text, f"requirements.lock mentions {option!r}"


def test_every_dependency_is_pinned_within_every_range_that_asks_for_it() -> None:
    pins = applicable_pins()
    problems = []
    for asker, requirement in needed(project_requirements()):
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name} (wanted by {asker}) is not pinned")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{pin.requirement} (line {pin.line}) breaks {asker}'s {requirement}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


def test_the_installed_versions_are_the_pinned_ones() -> None:
    for name, pin in applicable_pins().items():
        installed = Version(importlib.metadata.version(name))
        assert installed == pin.version, f"{name}: installed {installed}, pinned {pin.version}"


def test_the_lock_pins_nothing_the_project_does_not_need() -> None:
    wanted = {canonicalize_name(r.name) for _, r in needed(project_requirements())}
    unneeded = sorted(set(applicable_pins()) - wanted)
    assert not unneeded, f"pinned but needed by nothing (run `make lock`): {unneeded}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a==1.0 \\\n    --hash=sha256:aa\n    # via b\n", [("a==1.0", 1)]),
        (
            "# header\nc==2 ; os_name == 'nt' \\\n    --hash=sha256:cc\n",
            [('c==2; os_name == "nt"', 2)],
        ),
    ],
    ids=["a pin with a hash and a via comment reads as one pin", "a marker survives the reading"],
)
def test_read_lock(text: str, expected: list[tuple[str, int]]) -> None:
    assert [(str(p.requirement), p.line) for p in read_lock(text)] == expected
