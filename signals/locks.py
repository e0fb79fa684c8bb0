"""The collector leader's lock, a part of the store: a PostgreSQL session advisory lock.

Replicas sharing one PostgreSQL store elect the one that runs collector schedules by holding this
lock (see ``signals.collectors.schedule``). It lives with the store because it is SQL on the
store's database; SQLite stores are single-process and need none.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from rapport.signals.store import Store

__all__ = ["LEADER_LOCK_KEY", "PgAdvisoryLock", "leader_lock"]

log = logging.getLogger(__name__)

#: Advisory lock key of the collector leader: "RAPC" (the store's write lock is "RAPP").
LEADER_LOCK_KEY = 0x52415043


def leader_lock(store: Store, key: int = LEADER_LOCK_KEY) -> PgAdvisoryLock | None:
    """A leader lock on ``store``'s PostgreSQL database; None for any other backend."""
    if store.backend != "postgresql":
        return None
    return PgAdvisoryLock(store._engine, key)


class PgAdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own (not from a pool, so closing
    it really ends the session and a crashed holder's lock is released by the server)."""

    def __init__(
        self, engine: Engine, key: int = LEADER_LOCK_KEY, connect_timeout: int = 5
    ) -> None:
        self._engine = create_engine(
            engine.url, poolclass=NullPool, connect_args={"connect_timeout": connect_timeout}
        )
        self._key = key
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self._connection is not None:
            return self.still_held()
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as error:
            log.warning("leader lock: cannot connect: %s", error)
            return False
        try:
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}
                ).scalar()
            )
        except SQLAlchemyError as error:
            log.warning("leader lock: cannot ask for the lock: %s", error)
            got = False
        if got:
            self._connection = connection
        else:
            connection.close()
        return got

    def still_held(self) -> bool:
        """True while our session is alive *and* holds the lock: ``pg_locks`` is asked on the
        lock's own connection (one cheap query), so a session ended by the server
        (``pg_terminate_backend``, a restart) or a lock released behind our back reads False."""
        if self._connection is None:
            return False
        try:
            held = bool(
                self._connection.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted "
                        "AND ((classid::bigint << 32) | objid::bigint) = :k AND objsubid = 1)"
                    ),
                    {"k": self._key},
                ).scalar()
            )
        except SQLAlchemyError as error:
            log.warning("leader lock: lost the connection holding it: %s", error)
            self._drop()
            return False
        if not held:
            log.warning("leader lock: the session is alive but no longer holds the lock")
            self._drop()
        return held

    def release(self) -> None:
        if self._connection is None:
            return
        with suppress(SQLAlchemyError):  # closing the session below releases it anyway
            self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        self._drop()

    def close(self) -> None:
        self.release()
        self._engine.dispose()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except SQLAlchemyError:
                log.debug("leader lock: closing a broken connection failed", exc_info=True)
