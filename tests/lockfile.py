"""Reading requirements.lock: its pins, the ones that hold here, and a hash-free constraints copy.

Shared by tests/test_lock.py (the lock agrees with pyproject.toml) and tests/test_wheel.py (the
wheel installs with the locked versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


@dataclass(frozen=True)
class Pin:
    """One entry of the lock: an exact requirement, the hashes it may have, its line number."""

    requirement: Requirement
    hashes: tuple[str, ...]
    line: int

    @property
    def version(self) -> Version:
        (specifier,) = self.requirement.specifier
        return Version(specifier.version)


def read_lock(text: str) -> list[Pin]:
    """The lock's logical lines (backslash continuations joined, comments dropped) as pins."""
    pins: list[Pin] = []
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not logical:
            start = number
        logical += " " + line.removesuffix("\\")
        if line.endswith("\\"):
            continue
        if logical.strip():
            hashes = tuple(re.findall(r"--hash=(\S+)", logical))
            spec = re.sub(r"--hash=\S+", "", logical).strip()
            pins.append(Pin(Requirement(spec), hashes, start))
        logical = ""
    return pins


def applicable_pins() -> dict[NormalizedName, Pin]:
    """The pins whose environment marker holds here (a universal lock also pins for others)."""
    pins: dict[NormalizedName, Pin] = {}
    for pin in read_lock(LOCK.read_text()):
        marker = pin.requirement.marker
        if marker is None or marker.evaluate():
            name = canonicalize_name(pin.requirement.name)
            assert name not in pins, f"line {pin.line}: {name} pinned twice for this environment"
            pins[name] = pin
    return pins


def constraints_text(pins: list[Pin]) -> str:
    """The pins as a pip constraints file without hashes.

    Hashes in a constraints file switch pip to hash-checking mode for every requirement, and then
    each dependency of the wheel would have to be a hashed *requirement*, not a constraint; the
    exact versions are what a constraints file is for.
    """
    return "".join(f"{pin.requirement}\n" for pin in pins)
