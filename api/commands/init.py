"""``rapport init DIR``: write a starter rules directory that a user puts in git.

DIR gets the shipped default rules, exactly as the package carries them (``scorecard.yaml``,
``clients.yaml`` with the 60 demo clients, the rule tests under ``tests/``), plus the two example
collectors in ``collectors.yaml`` with the sample exports they read copied to ``DIR/exports/``, so
``rapport collect --once --rules-dir DIR`` works from any directory. Edit or delete them: they
are a starting point, checked by ``rapport rules check DIR`` like everything else.

Existing files are never overwritten without ``--force``: the command checks every target first
and, if any exists, writes nothing, names them and exits 2.

Top-level imports stay light (typer, pathlib, the stdlib-only resources module): this module is
imported to build ``rapport --help``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from rapport.api.resources import shipped_exports_dir, shipped_rules_dir
from rapport.engine.errors import RapportError

EXIT_ENVIRONMENT = 2

# The shipped collectors.yaml lives in rules/ and reads ../examples/exports (relative to itself);
# in a starter directory the exports sit beside it.
SHIPPED_EXPORTS_PATH = "path: ../examples/exports"
STARTER_EXPORTS_DIR = "exports"
SHOWN_EXISTING = 3  # name this many of the files in the way, then count the rest


class InitTargetExistsError(RapportError):
    """``rapport init`` would overwrite files; nothing was written."""

    def __init__(self, existing: Sequence[Path]) -> None:
        shown = ", ".join(str(p) for p in existing[:SHOWN_EXISTING])
        more = len(existing) - SHOWN_EXISTING
        names = f"{shown} and {more} more" if more > 0 else shown
        noun = "file already exists" if len(existing) == 1 else "files already exist"
        super().__init__(f"{noun}: {names} (nothing written; --force overwrites)")


class InitWriteError(RapportError):
    """A starter file could not be written (permissions, a file where a folder should be)."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"cannot write {path}: {error.strerror or error}")


def starter_files() -> dict[Path, bytes]:
    """Every file of the starter directory, by its path relative to DIR, with its content.

    A rules file that reads the sample exports (the shipped collectors.yaml) is rewritten to read
    them from ``DIR/exports``, and then the exports are part of the starter.
    """
    rules = shipped_rules_dir()
    files: dict[Path, bytes] = {}
    reads_exports = False
    for pattern in ("*.yaml", "tests/*.yaml"):
        for path in sorted(rules.glob(pattern)):
            text = path.read_bytes().decode("utf-8")  # as shipped, line endings too
            if SHIPPED_EXPORTS_PATH in text:
                text = text.replace(SHIPPED_EXPORTS_PATH, f"path: {STARTER_EXPORTS_DIR}")
                reads_exports = True
            files[path.relative_to(rules)] = text.encode("utf-8")
    # The files' `$schema=.schema/<kind>.json` lines point here: written from this Rapport's
    # models rather than shipped, so they always match the Rapport that wrote the starter.
    from rapport.api.rules_schema import all_schemas, render  # noqa: PLC0415 (start-up cost)

    for kind, schema in all_schemas().items():
        files[Path(".schema") / f"{kind}.json"] = render(schema).encode("utf-8")
    if reads_exports:
        for export in sorted(shipped_exports_dir().glob("*.csv")):
            files[Path(STARTER_EXPORTS_DIR) / export.name] = export.read_bytes()
    return files


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the starter files under ``directory`` (created if missing); return their paths.

    Raises ``InitTargetExistsError`` before writing anything when a target exists and ``force``
    is false, and ``InitWriteError`` when the file system refuses a write.
    """
    files = {directory / relative: content for relative, content in starter_files().items()}
    existing = [path for path in files if path.exists() or path.is_symlink()]
    if existing and not force:
        raise InitTargetExistsError(existing)
    for path, content in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        except OSError as error:
            raise InitWriteError(path, error) from None
    return list(files)


def init(
    directory: Annotated[Path, typer.Argument(help="Directory to write the starter rules into.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Write a starter rules directory (scorecard, demo clients, collectors, rule tests)."""
    try:
        written = write_starter(directory, force=force)
    except RapportError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_ENVIRONMENT) from None
    typer.echo(f"wrote {len(written)} files to {directory}")
    typer.echo(f"next: rapport rules check {directory} && rapport --rules-dir {directory} demo")


def register(app: typer.Typer) -> None:
    """Add ``init`` to the ``rapport`` command line."""
    app.command("init")(init)
