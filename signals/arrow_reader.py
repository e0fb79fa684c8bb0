"""Bulk signal loads as Arrow columns through ADBC, a part of the store (``Store._load``).

A load of every client — ``rapport serve``'s cold start, ``rapport score``, replays — reads
millions of rows. Through a DB-API cursor each value becomes a Python object before numpy sees it:
at 100k clients that was ~5 µs a row, most of a 30-second start. The ADBC drivers
(``adbc-driver-sqlite``, ``adbc-driver-postgresql``; the latter reads with binary ``COPY``) hand
back Arrow columns built in C; text columns are dictionary-encoded by pyarrow and reach the
builder as codes (``SignalSetBuilder.add_encoded``), floats as numpy arrays — about 3.5× the rows
per second of the cursor (``benchmarks/load.py``, README "Cold load: readers compared").

Small loads (one client, the clients a change-feed sync re-reads) stay on the store's pooled
connection: a new ADBC connection costs more than they do. An in-memory SQLite database exists
only inside the store's own connection, so it is always read through that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import adbc_driver_manager
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from adbc_driver_postgresql import dbapi as adbc_postgresql
from adbc_driver_sqlite import dbapi as adbc_sqlite
from sqlalchemy import URL

from rapport.signals.columnar import Encoded, SignalSetBuilder

#: The ADBC SQLite driver infers a column's type from its first batch: an all-NULL start of
#: ``value`` would read as INT64 and then fail on the first REAL. One batch sees every row (up
#: to 100M).
_SQLITE_OPTIONS = {"adbc.sqlite.query.batch_rows": "100000000"}


@dataclass(frozen=True)
class ArrowSource:
    """Where ADBC reads a store: ``backend`` ``sqlite`` (``target`` a file path) or
    ``postgresql`` (``target`` a libpq URI)."""

    backend: str
    target: str

    @classmethod
    def of(cls, url: URL) -> ArrowSource | None:
        """The source for a store URL, or None where only the store's connection can read it
        (an in-memory or URI-form SQLite database)."""
        backend = url.get_backend_name()
        if backend == "postgresql":
            libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return cls(backend, libpq)
        database = url.database or ""
        if backend != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
            return None
        if url.query.get("mode") == "memory":
            return None
        return cls(backend, database)

    def load(self, sql: Sequence[str], builder: SignalSetBuilder) -> None:
        """Run each query (``signals.loading``'s columns, in their order, bound as literals)
        and add its rows to ``builder``. Driver failures raise ``adbc_driver_manager.Error``."""
        with self._connect() as connection, connection.cursor() as cursor:
            if self.backend == "sqlite":
                cursor.adbc_statement.set_options(**_SQLITE_OPTIONS)
            for text in sql:
                cursor.execute(text)
                add_table(builder, cursor.fetch_arrow_table())

    def _connect(self) -> adbc_driver_manager.dbapi.Connection:
        driver = adbc_sqlite if self.backend == "sqlite" else adbc_postgresql
        connection: adbc_driver_manager.dbapi.Connection = driver.connect(self.target)
        return connection


def add_table(builder: SignalSetBuilder, table: pa.Table) -> None:
    """One result of ``signals.loading``'s columns (kind, client, ts, end_ts, value, attrs,
    recorded_at) into ``builder``."""
    if table.num_rows == 0:
        return
    kind, client, ts, end, value, attrs, recorded = table.columns
    times = np.vstack([_floats(column) for column in (ts, end, value, recorded)])
    builder.add_encoded(_encoded(kind), _encoded(client), _encoded(attrs), times)


def _encoded(column: pa.ChunkedArray) -> Encoded:
    encoded = pc.dictionary_encode(column).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    return Encoded(codes, encoded.dictionary.to_pylist())


def _floats(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    # A column that is NULL in every row arrives typed as null (or int64): as floats, NaN.
    as_float = pc.cast(column, pa.float64()) if column.type != pa.float64() else column
    values: npt.NDArray[np.float64] = as_float.to_numpy(zero_copy_only=False)
    return values
