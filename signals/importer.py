"""Import signals or clients from CSV and JSON Lines files into the store (``rapport import``).

The format follows the extension: ``.csv`` has a header row; ``.jsonl``/``.ndjson`` hold one JSON
object per line (blank lines are ignored). A file with a ``kind`` field holds signals; one with
``id`` and ``name`` holds clients. An import is all or nothing: every row of every file is checked
before anything is written, and if any is bad, ``ImportRejectedError`` lists them all
(``path:line: field: reason (use …)``, physical 1-based lines) and nothing is written. The rows
are then written in short idempotent batches (``Store.upsert_signal_batches``). Re-importing a
file changes nothing; a row whose ``event_id`` under its ``client`` (or client ``id``) is
stored with other values updates it. Event ids are scoped per client: a row never touches another
client's signal, even one with the same ``event_id`` (that row is a signal of its own client).

Signals: a CSV cell left empty is absent. JSON Lines objects use the same field names, with
attributes in one nested ``attrs`` object or flat, and ``null`` for absent
(``signals.natural``).

=================  ==============================================================================
column             meaning
=================  ==============================================================================
event_id           id of the event, unique per client; importing it again updates it (required)
client             client id (required); signals of unregistered clients are kept, not scored
kind               response_time, milestone, survey, incident, outcome, or a custom kind (required)
source             where the row came from (default ``manual``)
recorded_at        when the event first became known (default: when the store first stored it)
ts                 time of the event (response_time, survey, outcome, custom kinds)
value              number: hours to first reply, survey score, an outcome's worth, a custom value
due                milestone due date or instant; a bare date ends at midnight in the client's zone
delivered_at       milestone delivery date or instant; empty while not delivered
severity           incident severity: sev1, sev2, sev3 or sev4
opened_at          incident opening instant
resolved_at        incident resolution instant; empty while open
channel            response_time channel (default ``other``)
thread             response_time thread or ticket id
scale              survey scale: nps (default), csat, or a range such as ``1..7``
survey             survey name
name               milestone name
project            milestone project
service            incident service
type               outcome type: renewed, churned, escalated, or one the scorecard declares
deal               outcome deal (the CRM record it came from)
attrs.<name>       an attribute (lower_snake_case name) of a custom kind, or extra on a built-in
=================  ==============================================================================

Times are ISO 8601; without an offset they are UTC. Clients CSV columns: ``id``, ``name``,
``segment``, ``owner_name``, ``owner_email``, ``owner_locale``, ``timezone`` and
``attrs.<name>``; clients JSON Lines objects have the registry's shape (``owner`` nested:
``name``, ``email``, ``locale``).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from rapport.engine.errors import FindingsError
from rapport.engine.kinds import OUTCOME_KIND
from rapport.engine.validate import did_you_mean, unknown_outcome_type
from rapport.signals.model import (
    CUSTOM_SIGNAL,
    Client,
    Signal,
    client_zones,
    payload_fields,
    signal_kind,
)
from rapport.signals.natural import fix_for, natural_signal
from rapport.signals.records import (
    BadRow,
    FileFormat,
    FileRejectedError,
    RecordFile,
    Row,
    open_records,
)
from rapport.signals.store import Store
from rapport.signals.writer import UpsertResult, signal_params

ImportKind = Literal["auto", "signals", "clients"]
ProgressCallback = Callable[[int, int], None]

#: The common fields, then every kind's payload fields (read off the models, in table order).
SIGNAL_COLUMNS = ("event_id", "client", "kind", "source", "recorded_at", *payload_fields())
CLIENT_COLUMNS = (
    "id", "name", "segment", "owner_name", "owner_email", "owner_locale", "timezone",
)  # fmt: skip

#: Rows validated and written per batch: big enough for executemany to pay, small enough to stream.
BATCH_ROWS = 5000
#: Bad rows listed in an ``ImportRejectedError`` message before "... and N more".
SHOWN_ERRORS = 50

_SIGNALS: TypeAdapter[list[Signal]] = TypeAdapter(list[Signal])
_CLIENTS: TypeAdapter[list[Client]] = TypeAdapter(list[Client])


@dataclass(frozen=True)
class RowError:
    """One bad row (or a bad file, ``line`` None): ``path:line: field: reason``."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportCounts:
    """Rows of one table that an import inserted, updated, or found already stored."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def __add__(self, result: UpsertResult | ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.inserted + result.inserted,
            self.updated + result.updated,
            self.unchanged + result.unchanged,
        )


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do).

    ``errors`` is only ever non-empty for a dry run (a real import with bad rows raises
    ``ImportRejectedError`` instead); a dry run's counts then stop at the first bad batch.
    """

    signals: ImportCounts
    clients: ImportCounts
    rows_read: int
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    #: signals per client id not in the registry: stored, but not scored until it is registered
    unregistered: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per table for the CLI, e.g. ``signals: 10 inserted, 2 updated, 0 unchanged``,
        and one naming the clients not in the registry."""
        lead = "Dry run, nothing written. " if self.dry_run else ""
        lines = [f"{lead}{self.rows_read} rows read"]
        for name, counts in (("signals", self.signals), ("clients", self.clients)):
            if counts.total:
                lines.append(
                    f"{name}: {counts.inserted} inserted, {counts.updated} updated, "
                    f"{counts.unchanged} unchanged"
                )
        if self.unregistered:
            lines.append(self.unregistered_line())
        lines.extend(str(error) for error in self.errors)
        return "\n".join(lines)

    def unregistered_line(self) -> str:
        """E.g. ``3 signals for 1 client not in the registry: contoso-retal``."""
        signals = sum(self.unregistered.values())
        clients = len(self.unregistered)
        return (
            f"{signals} signal{'s' * (signals != 1)} for {clients} client{'s' * (clients != 1)} "
            f"not in the registry: {', '.join(self.unregistered)}"
        )


class ImportRejectedError(FindingsError):
    """Some rows or files were bad, so nothing was imported; lists every problem found."""

    def __init__(self, errors: Sequence[RowError], rows_read: int) -> None:
        self.errors = tuple(errors)
        self.rows_read = rows_read
        count = len(self.errors)
        shown = [str(e) for e in self.errors[:SHOWN_ERRORS]]
        if count > SHOWN_ERRORS:
            shown.append(f"... and {count - SHOWN_ERRORS} more")
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"Nothing imported: {count} {noun} found\n" + "\n".join(shown))


def import_files(
    store: Store,
    paths: Sequence[Path],
    *,
    kind: ImportKind = "auto",
    on_progress: ProgressCallback | None = None,
    dry_run: bool = False,
    known_kinds: Collection[str] | None = None,
    outcome_types: Sequence[str] | None = None,
    registry: Sequence[Client] = (),
) -> ImportReport:
    """Import every file of ``paths`` into ``store``: validate every row first, then write.

    ``kind`` forces signals or clients instead of telling them apart by their fields.
    ``on_progress(done_bytes, total_bytes)`` is called as the files are read. Raises
    ``ImportRejectedError`` (and writes nothing) if any file or row is bad. ``known_kinds`` (the
    scorecard's, ``engine.kinds.known_kinds``) rejects rows of any other kind, with a suggestion;
    None accepts every kind. ``outcome_types`` (``Scorecard.outcome_types``) likewise rejects an
    ``outcome`` row of any other type; None accepts every type. ``registry`` (``clients.yaml``'s
    clients) adds to the store's and the files' clients: the registered ids, and the time zones
    bare dates are resolved in.

    The rows are written in batches of ``BATCH_ROWS``, each its own short transaction, so that
    other writers (the API's ingest) are not locked out; every batch is idempotent, so running an
    interrupted import again completes it, and a batch that changes nothing takes no write lock.
    With ``dry_run`` nothing is written, and the report says what the import would do.
    """
    files: list[RecordFile] = []
    errors: list[RowError] = []
    for path in paths:
        try:
            records = open_records(path, kind)
        except FileRejectedError as rejected:
            errors.append(RowError(rejected.path, None, rejected.reason))
            continue
        header = _header_errors(records)
        errors.extend(header)
        if not header:  # a file whose columns are not understood is not read further
            files.append(records)
    stored = store.clients()
    run = _Run(errors, _Progress(sum(f.size for f in files), on_progress), known_kinds)
    run.outcome_types = outcome_types
    # Clients first: their time zones resolve the signals' bare dates, their ids count as known.
    for records in sorted(files, key=lambda f: f.kind != "clients"):
        if records.kind == "signals" and run.zones is None:
            run.use_registry([*stored, *registry, *run.new_clients])
        run.read_file(records)
    # Files in the order given, lines in file order; a line's own problems keep pydantic's order.
    position = {str(path): i for i, path in enumerate(paths)}
    found = sorted(run.errors, key=lambda e: (position.get(e.path, 0), e.line or 0))
    if found and not dry_run:
        raise ImportRejectedError(found, run.rows_read)
    if dry_run:
        with store.writing() as writer:
            run.clients += writer.upsert_clients(run.new_clients)
            run.signals += writer.upsert_signal_params(run.params)
            writer.discard()
    else:
        if run.new_clients:
            run.clients += store.upsert_clients(run.new_clients)
        run.signals += store.upsert_signal_batches(run.params, batch_rows=BATCH_ROWS)
    return ImportReport(run.signals, run.clients, run.rows_read, found, dry_run, run.unregistered())


def _header_errors(records: RecordFile) -> list[RowError]:
    """Unknown (or repeated) CSV columns; JSON Lines files have no header to check."""
    if records.format is not FileFormat.CSV:
        return []
    known = SIGNAL_COLUMNS if records.kind == "signals" else CLIENT_COLUMNS
    errors = []
    for column in records.columns:
        if column in known or (column.startswith("attrs.") and len(column) > len("attrs.")):
            continue
        close = difflib.get_close_matches(column, [*known, "attrs.<name>"], n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known columns: {', '.join(known)}"
        errors.append(RowError(records.shown, 1, f"{column}: unknown column ({hint})"))
    repeated = sorted({c for c in records.columns if records.columns.count(c) > 1})
    errors.extend(RowError(records.shown, 1, f"{c}: column appears twice") for c in repeated)
    return errors


class _Progress:
    """Bytes read so far across all files, reported through the caller's callback."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback

    def advance(self, size: int) -> None:
        self.done += size

    def report(self) -> None:
        if self._callback is not None:
            self._callback(min(self.done, self.total), self.total)


class _Run:
    """The state of one import: what was read, the rows to write, errors, progress. Rows are
    kept for writing only until the first error, but every row is validated, so that every bad
    row is reported."""

    def __init__(
        self, errors: list[RowError], progress: _Progress, known_kinds: Collection[str] | None
    ) -> None:
        self.errors = errors
        self.progress = progress
        self.known_kinds = None if known_kinds is None else list(known_kinds)
        self.outcome_types: Sequence[str] | None = None
        self.rows_read = 0
        self.signals = ImportCounts()
        self.clients = ImportCounts()
        self.params: list[dict[str, Any]] = []
        self.new_clients: list[Client] = []
        self.zones: dict[str, tzinfo] | None = None
        self.registered: set[str] = set()
        self.per_client: Counter[str] = Counter()

    def use_registry(self, clients: Sequence[Client]) -> None:
        self.zones = dict(client_zones(clients))
        self.registered = {c.id for c in clients}

    def unregistered(self) -> dict[str, int]:
        """Signals per client id the registry does not know (they are stored, not scored)."""
        return {c: n for c, n in sorted(self.per_client.items()) if c not in self.registered}

    def read_file(self, records: RecordFile) -> None:
        for batch in _batches(records.rows(self.progress.advance), BATCH_ROWS):
            self.rows_read += len(batch)
            lines: list[int] = []
            items: list[dict[str, Any]] = []
            for line, item in batch:
                if isinstance(item, BadRow):
                    self.errors.append(RowError(records.shown, line, item.message))
                elif records.kind == "clients":
                    lines.append(line)
                    items.append(item)
                else:
                    natural = natural_signal(item)
                    problem = self._unknown_kind(natural.get("kind")) or self._unknown_type(natural)
                    if problem is not None:
                        self.errors.append(RowError(records.shown, line, problem))
                        continue
                    lines.append(line)
                    items.append(natural)
            if records.kind == "signals":
                self._signals(records, lines, items)
            else:
                self._clients(records, lines, items)
            self.progress.report()

    def _unknown_kind(self, kind: Any) -> str | None:
        """A kind the scorecard does not read would be stored and never scored: a typo, mostly."""
        if self.known_kinds is None or not isinstance(kind, str) or kind in self.known_kinds:
            return None
        close = did_you_mean(kind, self.known_kinds)
        hint = (
            f"did you mean {close!r}? or"
            if close
            else "known kinds: " + ", ".join(self.known_kinds) + ";"
        )
        return f"kind: unknown kind {kind!r} ({hint} declare it under signals: in the scorecard)"

    def _unknown_type(self, item: Any) -> str | None:
        """An outcome of a type neither built in nor declared is refused like an unknown kind."""
        if self.outcome_types is None or item.get("kind") != OUTCOME_KIND:
            return None
        return unknown_outcome_type(item.get("type"), self.outcome_types)

    def _signals(self, records: RecordFile, lines: list[int], items: list[Any]) -> None:
        try:
            signals = _SIGNALS.validate_python(items)
        except ValidationError as error:
            self.errors.extend(_row_errors(records, lines, error, tagged=True))
            return
        for signal in signals:
            self.per_client[signal.client] += 1
        if not self.errors:
            zones = self.zones
            self.params.extend(signal_params(s.to_stored(zones)) for s in signals)

    def _clients(self, records: RecordFile, lines: list[int], items: list[Any]) -> None:
        try:
            clients = _CLIENTS.validate_python(items)
        except ValidationError as error:
            self.errors.extend(_row_errors(records, lines, error, tagged=False))
            return
        if not self.errors:
            self.new_clients.extend(clients)


def _row_errors(
    records: RecordFile, lines: list[int], error: ValidationError, *, tagged: bool
) -> Iterator[RowError]:
    """One ``RowError`` per pydantic error, located at its row's physical line.

    A location is (row index, [kind tag,] field, ...); the tag that picked the signal model is
    not a field, and CSV clients' nested owner fields are named by their columns.
    """
    for detail in error.errors(include_url=False):
        index, *rest = detail["loc"]
        tag = str(rest.pop(0)) if tagged and rest else None
        path = [str(part) for part in rest if part != "[key]"]
        if records.format is FileFormat.CSV and path[:1] == ["owner"] and len(path) > 1:
            path = [f"owner_{path[1]}", *path[2:]]
        name = ".".join(path) or "row"
        yield RowError(records.shown, lines[int(index)], f"{name}: {_message(detail, tag, path)}")


def _message(detail: Any, tag: str | None, path: list[str]) -> str:
    """Pydantic's message, worded for a row: what is wrong and, where it helps, ``use …``."""
    message = str(detail["msg"]).removeprefix("Value error, ")
    kind = "custom kind" if tag == CUSTOM_SIGNAL.name else tag
    fix = fix_for(path[-1]) if path and tag is not None else None
    if detail["type"] == "extra_forbidden":
        if tag is None:
            return "not a known field"
        fields = signal_kind(tag).fields if tag != CUSTOM_SIGNAL.name else ("ts", "value")
        close = did_you_mean(path[-1], fields) if path else None
        if close is not None:
            return f"not a field of {kind} signals (did you mean {close!r}?)"
        time_fix = fix_for(signal_kind(tag).model.stored_as.ts) if path[-1:] == ["ts"] else None
        return f"not a field of {kind} signals" + (f" ({time_fix})" if time_fix else "")
    if detail["type"] == "missing" and tag is not None:
        message = f"required for {kind} signals"
    # a value of the wrong form gets the right form; a value out of range already says what fits
    wrong_form = detail["type"] == "missing" or detail["type"].endswith(("_parsing", "_type"))
    return f"{message} ({fix})" if fix and wrong_form else message


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
