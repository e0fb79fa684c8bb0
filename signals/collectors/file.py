"""``file``: a drop folder of CSV or JSONL exports, one signal per row.

Any tool that can export a spreadsheet can feed Rapport this way. Each row becomes one signal of the
configured ``kind``; ``columns`` maps signal fields to column names (a field not listed is read from
a column of the same name, so files in the ``rapport import`` format need no mapping)::

    exports:
      type: file
      path: ../examples/exports          # relative to collectors.yaml
      glob: "response-times-*.csv"
      kind: response_time
      columns: {event_id: Ticket, client: Account, ts: Opened, value: Hours to reply}
      values: {channel: helpdesk}        # constant fields for every row

The cursor remembers each processed file by name, modification time and size, so a file is read
again only when it changes; one fetch reads one file, so a crash loses at most the file in hand.
A malformed row is skipped (and reported with its line) while the rest of the file is kept.

The helpers here (``read_rows``, ``to_time``, ``DropFolder``) are shared with ``survey_csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from rapport.signals.collectors.base import (
    BaseCollector,
    CollectorConfig,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.model import TIME_FIELDS, StoredSignal, parse_signal, signal_kind

MAX_FILE_BYTES = 50_000_000


def fields_of(kind: str) -> tuple[str, ...]:
    """The signal fields a row of ``kind`` may fill; custom kinds also take ``attrs.<name>``."""
    return ("event_id", "client", *signal_kind(kind).fields)


def is_field(kind: str, name: str) -> bool:
    if name in fields_of(kind):
        return True
    custom = signal_kind(kind).custom
    return custom and name.startswith("attrs.") and len(name) > len("attrs.")


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
        ) from None
    return value


class TableSource(CollectorConfig):
    """What every drop-folder collector shares: where the files are and how to read them."""

    #: relative paths are made relative to collectors.yaml when it is loaded (config.py)
    path: Path = Field(description="the drop folder")
    glob: str = "*.csv"
    time_format: str | None = Field(default=None, description="strptime format of time cells")
    timezone: str = Field(default="UTC", description="zone of times written without an offset")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    max_file_bytes: int = Field(default=MAX_FILE_BYTES, gt=0)

    _zone = field_validator("timezone")(check_timezone)


class FileConfig(TableSource):
    """A ``file`` source: rows of ``kind`` with ``columns`` mapping signal fields to columns."""

    format: Literal["auto", "csv", "jsonl"] = "auto"
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict, description="constant fields")
    event_id_prefix: str = Field(default="file", min_length=1, max_length=40)

    @model_validator(mode="after")
    def _known_fields(self) -> FileConfig:
        unknown = [f for f in (*self.columns, *self.values) if not is_field(self.kind, f)]
        if unknown:
            allowed = ", ".join(fields_of(self.kind))
            extra = " or attrs.<name>" if signal_kind(self.kind).custom else ""
            raise ValueError(
                f"unknown field {unknown[0]!r} for kind {self.kind} (use {allowed}{extra})"
            )
        return self


# --- reading tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One record of a file: its 1-based physical line and its cells (None: empty or absent)."""

    line: int
    cells: Mapping[str, Any]


def read_rows(
    path: Path, fmt: str, *, delimiter: str = ",", encoding: str = "utf-8-sig", skip_rows: int = 0
) -> tuple[list[str], Iterator[Row | str]]:
    """The header (column names) and the rows of a CSV or JSONL file.

    A JSONL line that is not a JSON object yields a ``str`` (the reason) instead of a ``Row`` so
    the caller can skip it with its line number. ``skip_rows`` drops records after the header
    (SurveyMonkey writes a second header row).
    """
    text = path.read_bytes().decode(encoding, errors="replace")
    if (fmt == "auto" and path.suffix.lower() in (".jsonl", ".ndjson")) or fmt == "jsonl":
        return [], _jsonl_rows(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    return header, _csv_rows(reader, header, skip_rows)


def _csv_rows(reader: Any, header: list[str], skip_rows: int) -> Iterator[Row | str]:
    for index, record in enumerate(reader):
        if index < skip_rows or not any(cell.strip() for cell in record):
            continue
        cells = {
            name: _cell(record[i]) if i < len(record) else None for i, name in enumerate(header)
        }
        yield Row(reader.line_num, cells)


def _cell(text: str) -> str | None:
    stripped = text.strip()
    return stripped or None


def _jsonl_rows(text: str) -> Iterator[Row | str]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            yield f"line {number}: not JSON ({error.msg})"
            continue
        if not isinstance(item, dict):
            yield f"line {number}: expected a JSON object"
            continue
        yield Row(number, {k: (None if v == "" else v) for k, v in item.items()})


_PLAIN_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
)


def to_time(raw: Any, time_format: str | None, zone: str) -> Any:
    """A time cell → an aware datetime when it can be read; otherwise ``raw`` unchanged, for the
    signal model to accept (a bare date, an epoch number) or reject with a clear message.

    Order: ``time_format`` if configured, then ISO 8601, then a few US-style export formats
    (Google Forms, SurveyMonkey). Month-first is assumed; day-first exports need ``time_format``.
    A time without an offset is in ``zone``.
    """
    if not isinstance(raw, str) or (len(raw) == 10 and raw[4:5] == "-"):  # bare dates: model rules
        return raw
    formats = (time_format,) if time_format else ()
    for fmt in (*formats, None, *_PLAIN_FORMATS):
        try:
            moment = datetime.fromisoformat(raw) if fmt is None else datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return moment.replace(tzinfo=ZoneInfo(zone)) if moment.tzinfo is None else moment
    return raw


def short_error(error: ValidationError) -> str:
    """The first problem of a ``parse_signal`` error as ``field: message`` (the leading kind tag
    of the discriminated union is left out: the row's kind is known)."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:] if not str(p).startswith("function-"))
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


R = TypeVar("R")


def convert_rows(
    rows: Iterable[tuple[str, R]],
    convert: Callable[[R], StoredSignal | None],
    context: FetchContext,
) -> list[StoredSignal]:
    """``(label, row)`` pairs → signals. A row that does not make a valid signal is skipped with
    ``label`` and the reason (the rest are kept); None (e.g. an unmapped client) is dropped."""
    signals: list[StoredSignal] = []
    for label, row in rows:
        try:
            signal = convert(row)
        except ValueError as error:  # pydantic's ValidationError included
            reason = short_error(error) if isinstance(error, ValidationError) else str(error)
            context.log_skip(label, reason)
            continue
        if signal is not None:
            signals.append(signal)
    return signals


def map_row(
    kind: str,
    columns: Mapping[str, str],
    values: Mapping[str, str],
    cell: Callable[[str], Any],
    read: Callable[[str, Any], Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """A row's signal fields and ``attrs``: each field of ``kind`` (and each ``attrs.<name>``
    named in ``columns``/``values``) from its constant in ``values``, else the cell of the column
    ``columns`` maps it to (default: the column of the field's own name), through ``read(field,
    value)``; empty cells are left out. Shared by the ``file`` and ``sql`` collectors."""
    data: dict[str, Any] = {}
    attrs: dict[str, str] = {}
    attr_fields = sorted({f for f in (*columns, *values) if f.startswith("attrs.")})
    for field in (*fields_of(kind), *attr_fields):
        value = values.get(field, cell(columns.get(field, field)))
        if value is None:
            continue
        value = read(field, value)
        if field.startswith("attrs."):
            attrs[field.removeprefix("attrs.")] = str(value)
        else:
            data[field] = value
    return data, attrs


def resolve_client(raw_client: Any, context: FetchContext) -> str | None:
    """The client id of a row's client cell (None: unmapped, and counted); no cell is an error."""
    if raw_client is None:
        raise ValueError("client: no value (map the client column in columns)")
    return context.clients.resolve(raw_client)


def stable_id(*parts: object) -> str:
    """A short digest of ``parts``: the identity of a row that has no id column."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


# --- the drop folder ------------------------------------------------------------------------------


class DropFolder:
    """The files of a folder matching a glob, and which of them changed since the cursor.

    The cursor is ``{"files": {relative name: "mtime_ns:size"}}``; entries of files that are gone
    are dropped so the cursor does not grow forever.
    """

    def __init__(self, source: TableSource, collector: str) -> None:
        self.source = source
        self.collector = collector

    def pending(self, cursor: JsonValue) -> tuple[list[Path], dict[str, str]]:
        """Files not yet read in their current state (oldest name first), and the pruned cursor."""
        folder = self.source.path
        if not folder.is_dir():
            raise CollectorError(self.collector, f"drop folder {folder} does not exist")
        seen = dict((cursor or {}).get("files", {})) if isinstance(cursor, dict) else {}
        files = sorted(p for p in folder.glob(self.source.glob) if p.is_file())
        names = {self.name(p) for p in files}
        kept = {name: sig for name, sig in seen.items() if name in names}
        return [p for p in files if kept.get(self.name(p)) != signature(p)], kept

    def name(self, path: Path) -> str:
        return path.relative_to(self.source.path).as_posix()

    def too_big(self, path: Path, context: FetchContext) -> bool:
        size = path.stat().st_size
        if size > self.source.max_file_bytes:
            limit = self.source.max_file_bytes
            context.log_skip(self.name(path), f"{size} bytes is over max_file_bytes ({limit})")
            return True
        return False


def signature(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def next_file(folder: DropFolder, cursor: JsonValue) -> tuple[Path | None, dict[str, str], bool]:
    """The next file to read, the cursor's file table, and whether more remain after it."""
    pending, files = folder.pending(cursor)
    if not pending:
        return None, files, False
    return pending[0], files, len(pending) > 1


def fetch_drop_folder(
    config: Any,
    collector: str,
    cursor: JsonValue,
    context: FetchContext,
    read: Callable[[Path, str, FetchContext], list[StoredSignal]],
) -> FetchResult:
    """One fetch of a drop-folder collector: ``read`` the next new or changed file (one too big
    is skipped with a reason); ``more`` while others are waiting."""
    folder = DropFolder(config, collector)
    path, files, more = next_file(folder, cursor)
    if path is None:
        return FetchResult([], {"files": files})
    state = signature(path)  # taken before reading: a file changing meanwhile is read again
    name = folder.name(path)
    signals = [] if folder.too_big(path, context) else read(path, name, context)
    files[name] = state
    return FetchResult(signals, {"files": files}, more)


class FileCollector(BaseCollector[FileConfig], name="file"):
    """Rows of CSV/JSONL files in a drop folder → signals of the configured ``kind`` (the client
    column holds client ids)."""

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        """Read the next new or changed file; ``more`` while others are waiting."""
        return fetch_drop_folder(self.config, self.name, cursor, context, self._read)

    def _read(self, path: Path, name: str, context: FetchContext) -> list[StoredSignal]:
        config = self.config
        _, rows = read_rows(
            path, config.format, delimiter=config.delimiter, encoding=config.encoding
        )

        def readable() -> Iterator[tuple[str, Row]]:
            for row in rows:  # lazily, so skips are logged in file order
                if isinstance(row, str):
                    context.log_skip(name, row)
                else:
                    yield f"{name}:{row.line}", row

        return convert_rows(readable(), lambda row: self._signal(row, context), context)

    def _signal(self, row: Row, context: FetchContext) -> StoredSignal | None:
        """One row → a signal; None when its client is not mapped (ClientMap counts it)."""
        config = self.config

        def read(field: str, value: Any) -> Any:
            if field in TIME_FIELDS:
                return to_time(value, config.time_format, config.timezone)
            return value

        data, attrs = map_row(config.kind, config.columns, config.values, row.cells.get, read)
        raw_client = data.pop("client", None)
        client = resolve_client(raw_client, context)
        if client is None:
            return None
        raw_id = data.pop("event_id", None)
        identity = (
            str(raw_id)
            if raw_id is not None
            else stable_id(raw_client, sorted(data.items(), key=str))
        )
        data.update(
            event_id=f"{config.event_id_prefix}:{identity}", client=client, kind=config.kind
        )
        if attrs:
            data["attrs"] = attrs
        return parse_signal(data).to_stored(context.clients.zones)
