"""The files shipped inside the package: the default rules and the sample collector exports.

``rules/`` (the scorecard, the 60 demo clients, the collectors and the rule tests) installs as the
data package ``rapport.rules``, and ``examples/exports`` (the sample CSV exports those collectors
read) as ``rapport.examples``; see pyproject.toml. A wheel therefore carries everything
``rapport init`` writes, and nothing here reads the repository checkout.

Imports stay at the standard library (and the dependency-free error base): ``rapport init`` and
``--help`` must start fast.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rapport.engine.errors import RapportError

RULES_PACKAGE = "rapport.rules"
EXPORTS_PACKAGE = "rapport.examples"


class MissingResourceError(RapportError):
    """A data package is not installed: a broken install, named so it can be repaired."""

    def __init__(self, package: str) -> None:
        super().__init__(
            f"the data package {package!r} is not installed (reinstall rapport: its wheel ships it)"
        )


def shipped_dir(package: str) -> Path:
    """The directory of the data package ``package`` (a folder of data files, no ``__init__.py``).

    Found through the import system (``importlib.util.find_spec``), so it is wherever the package
    is installed, never the repository checkout by accident. Not ``importlib.resources.files``:
    for a namespace package Python 3.11 returns a ``MultiplexedPath`` (no plain path to copy
    from), and in an editable install it fails outright, because setuptools' finder puts its path
    hook on the namespace path. The first real directory on the spec's path is the package.
    """
    spec = importlib.util.find_spec(package)
    locations = spec.submodule_search_locations if spec is not None else None
    for location in locations or ():
        if Path(location).is_dir():
            return Path(location)
    raise MissingResourceError(package)


def shipped_rules_dir() -> Path:
    """The shipped default rules directory (what the repository keeps as ``rules/``)."""
    return shipped_dir(RULES_PACKAGE)


def shipped_exports_dir() -> Path:
    """The sample exports the shipped collectors read (the repository's ``examples/exports``)."""
    return shipped_dir(EXPORTS_PACKAGE)
