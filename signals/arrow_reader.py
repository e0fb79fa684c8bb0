"""Bulk signal loads from PostgreSQL as Arrow columns through ADBC, a part of the store.

A load of every client — ``rapport serve``'s cold start, ``rapport score``, replays — reads
millions of rows. Through a DB-API cursor each value becomes a Python object before numpy sees it:
at 100k clients that was ~5 µs a row, most of a 30-second start. The ADBC PostgreSQL driver reads
with binary ``COPY`` and hands back Arrow columns built in C; text columns are dictionary-encoded
by pyarrow and reach the builder as codes (``SignalSetBuilder.add_encoded``), floats as numpy
arrays — about 4× the rows per second of the cursor (``benchmarks/load.py``, README "Cold load:
readers compared").

Not for SQLite, though its ADBC driver is as fast: it carries its own copy of the SQLite library,
and two copies in one process break each other's POSIX file locks (sqlite.org/howtocorrupt.html,
2.2.1). Seen here as a reader of stale rows under the store's own writes (the property test in
``tests/signals/test_memory.py``). Small loads (one client, the clients a change-feed sync
re-reads) stay on the store's pooled connection too: a new connection costs more than they do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from adbc_driver_postgresql import dbapi as adbc_postgresql
from sqlalchemy import URL

from rapport.signals.columnar import Encoded, SignalSetBuilder
from rapport.signals.database import CONNECT_TIMEOUT_S


@dataclass(frozen=True)
class ArrowSource:
    """A PostgreSQL store as ADBC reads it: ``target`` is its libpq URI (password included)."""

    target: str

    @classmethod
    def of(cls, url: URL) -> ArrowSource | None:
        """The source for a store URL: PostgreSQL's libpq URI, None for SQLite (see above)."""
        if url.get_backend_name() != "postgresql":
            return None
        if "connect_timeout" not in url.query:  # as the store's own connections wait
            url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_S)})
        return cls(url.set(drivername="postgresql").render_as_string(hide_password=False))

    def load(self, sql: Sequence[str], builder: SignalSetBuilder) -> None:
        """Run each query (``signals.loading``'s columns, in their order, bound as literals)
        and add its rows to ``builder``. Driver failures raise ``adbc_driver_manager.Error``."""
        with adbc_postgresql.connect(self.target) as connection, connection.cursor() as cursor:
            for text in sql:
                cursor.execute(text)
                add_table(builder, cursor.fetch_arrow_table())


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
