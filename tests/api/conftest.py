"""Fixtures starting a real Rapport API on a random loopback port (helpers in live_api.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_api import DATA, LiveServer, ServerFactory, launch, seed_world


@pytest.fixture(autouse=True)
def private_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every service (in-process or ``rapport serve``) writes its ``.eml`` files here, never
    to the working directory's ``data/outbox``."""
    directory = tmp_path / "outbox"
    monkeypatch.setenv("RAPPORT_OUTBOX_DIR", str(directory))
    return directory


def copy_rules(target: Path) -> Path:
    shutil.copytree(DATA / "rules", target)
    return target


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A private copy of the test rules, free to edit."""
    return copy_rules(tmp_path / "rules")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rapport.db'}"


@pytest.fixture
def serve_api(rules_dir: Path, sqlite_url: str) -> Iterator[ServerFactory]:
    """Start servers: ``serve_api(tokens=True, url=..., clock=..., **settings)``; each one is
    stopped (and its store closed) when the test ends."""
    stoppers: list[Callable[[], None]] = []

    def start(*, url: str | None = None, **options: Any) -> LiveServer:
        server, stop = launch(rules_dir, url or sqlite_url, **options)
        stoppers.append(stop)
        return server

    yield start
    for stop in reversed(stoppers):
        stop()


@pytest.fixture
def world(serve_api: ServerFactory) -> LiveServer:
    """A server with tokens and the seeded world, scored as of T."""
    server = serve_api()
    seed_world(server)
    return server


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One seeded world for a whole module, for tests that only read (or write idempotently)."""
    root = tmp_path_factory.mktemp("shared")
    server, stop = launch(copy_rules(root / "rules"), f"sqlite:///{root / 'rapport.db'}")
    seed_world(server)
    yield server
    stop()
