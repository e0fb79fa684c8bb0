"""Reading import files: CSV or JSON Lines rows as plain dicts, each with its physical line number.

This module knows file formats only; what the fields mean is the importer's business (and the
signal and client models'). Files are read as bytes so that progress can be counted in bytes and
a line that is not UTF-8 is reported on its own line rather than ending the whole import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from rapport.engine.errors import RapportError

RecordKind = Literal["signals", "clients"]


class FileFormat(Enum):
    CSV = "csv"
    JSONL = "jsonl"


_FORMATS = {".csv": FileFormat.CSV, ".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL}


class FileRejectedError(RapportError):
    """A whole file cannot be imported (missing, unknown extension, no header, unknown kind)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class BadRow:
    """A row that could not even be read into fields; ``message`` is ``field: reason``."""

    message: str


#: What ``RecordFile.rows`` yields: (physical 1-based line, a dict of fields or a ``BadRow``).
Row = tuple[int, "dict[str, Any] | BadRow"]


@dataclass(frozen=True)
class RecordFile:
    """One import file, its format and kind known and (for CSV) its header read."""

    path: Path
    format: FileFormat
    kind: RecordKind
    columns: tuple[str, ...]  # CSV header; empty for JSON Lines
    size: int

    @property
    def shown(self) -> str:
        """The path as the user gave it, for messages."""
        return str(self.path)

    def rows(self, advance: Callable[[int], None]) -> Iterator[Row]:
        """Every data row in file order; ``advance(n)`` is called as ``n`` more bytes are read.

        CSV cells left empty are omitted; ``attrs.<name>`` columns become an ``attrs`` dict and,
        for clients, ``owner_*`` columns an ``owner`` dict (the models' shapes).
        """
        with self.path.open("rb") as handle:
            lines = _Lines(handle, advance)
            if self.format is FileFormat.JSONL:
                yield from _json_rows(lines)
            else:
                yield from _csv_rows(lines, self.columns, owner=self.kind == "clients")


def open_records(path: Path, kind: Literal["auto", "signals", "clients"]) -> RecordFile:
    """Check ``path`` can be imported and tell its kind (``auto``: a ``kind`` field means signals,
    ``id`` and ``name`` fields clients). Raises ``FileRejectedError`` naming the problem."""
    shown = str(path)
    file_format = _FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise FileRejectedError(
            shown, f"unsupported file type {path.suffix!r} (use .csv, .jsonl, .ndjson)"
        )
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            fields = _first_fields(_Lines(handle, lambda _: None), file_format)
    except OSError as error:
        raise FileRejectedError(shown, f"cannot read the file: {error.strerror}") from None
    if fields is None:
        raise FileRejectedError(
            shown, "no rows found" if file_format is FileFormat.JSONL else "no header row"
        )
    detected = kind if kind != "auto" else _detect(fields)
    if detected is None:
        raise FileRejectedError(
            shown,
            "cannot tell signals from clients: signals have a kind field, clients id and name "
            "(or choose the kind explicitly)",
        )
    columns = tuple(fields) if file_format is FileFormat.CSV else ()
    return RecordFile(path, file_format, detected, columns, size)


def _detect(fields: list[str]) -> RecordKind | None:
    if "kind" in fields:
        return "signals"
    if "id" in fields and "name" in fields:
        return "clients"
    return None


def _first_fields(lines: _Lines, file_format: FileFormat) -> list[str] | None:
    """The CSV header, or the keys of the first JSON object; None if the file has neither."""
    if file_format is FileFormat.CSV:
        for cells in csv.reader(lines):
            if any(cell.strip() for cell in cells):
                return [cell.strip() for cell in cells]
        return None
    for line in lines:
        try:
            value = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        if isinstance(value, dict):
            return [str(key) for key in value]
    return None


class _Lines:
    """Decoded lines of a binary file, counting bytes and remembering the physical line number.

    A line that is not UTF-8 is decoded with replacement characters and its number remembered,
    so that the row containing it can be reported as bad.
    """

    def __init__(self, handle: Any, advance: Callable[[int], None]) -> None:
        self._handle = handle
        self._advance = advance
        self.number = 0
        self.undecodable: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self._handle:
            self.number += 1
            self._advance(len(raw))
            try:
                text: str = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.undecodable.add(self.number)
                text = raw.decode("utf-8", errors="replace")
            yield text.removeprefix("\ufeff") if self.number == 1 else text


_NOT_UTF8 = BadRow("row: not valid UTF-8 text")


def _json_rows(lines: _Lines) -> Iterator[Row]:
    for line in lines:
        if not line.strip():
            continue
        if lines.number in lines.undecodable:
            yield lines.number, _NOT_UTF8
            continue
        try:
            value = json.loads(line.rstrip())
        except json.JSONDecodeError as error:
            where = f"{error.msg} at column {error.colno}"
            yield lines.number, BadRow(f"row: not valid JSON ({where})")
            continue
        if not isinstance(value, dict):
            yield lines.number, BadRow("row: expected a JSON object")
            continue
        yield lines.number, value


def _csv_rows(lines: _Lines, header: tuple[str, ...], *, owner: bool) -> Iterator[Row]:
    reader = csv.reader(lines)
    for cells in reader:  # the header: the first row with any text
        if any(cell.strip() for cell in cells):
            break
    plain = [(i, c) for i, c in enumerate(header) if not c.startswith("attrs.")]
    attrs = [(i, c.removeprefix("attrs.")) for i, c in enumerate(header) if c.startswith("attrs.")]
    end = reader.line_num
    for cells in reader:
        start, end = end + 1, reader.line_num
        if not "".join(cells).strip():  # a blank line, or a row of empty cells
            continue
        if any(n in lines.undecodable for n in range(start, end + 1)):
            yield start, _NOT_UTF8
        elif len(cells) != len(header):
            yield start, BadRow(f"row: has {len(cells)} cells, the header has {len(header)}")
        else:
            yield start, _csv_item(cells, plain, attrs, owner=owner)


def _csv_item(
    cells: list[str], plain: list[tuple[int, str]], attrs: list[tuple[int, str]], *, owner: bool
) -> dict[str, Any]:
    item: dict[str, Any] = {name: cells[i] for i, name in plain if cells[i]}
    if attrs:
        values = {name: cells[i] for i, name in attrs if cells[i]}
        if values:
            item["attrs"] = values
    if owner:
        person = {key[len("owner_") :]: item.pop(key) for key in _OWNER_KEYS if key in item}
        if person:
            item["owner"] = person
    return item


_OWNER_KEYS = ("owner_name", "owner_email", "owner_locale")
