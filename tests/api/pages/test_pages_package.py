"""The wheel carries the pages' templates and assets: every file under api/pages/ that is not
Python is named by a package-data pattern (tests/test_wheel.py builds and installs the wheel)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAGES = ROOT / "api" / "pages"


def test_every_template_and_asset_of_the_pages_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["rapport.api.pages"]
    assert "rapport.api.pages" in config["tool"]["setuptools"]["packages"]
    files = [
        p.relative_to(PAGES).as_posix()
        for p in PAGES.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc")
    ]
    assert files, "the pages have templates and a stylesheet"
    missing = [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)]
    assert missing == []
