"""Database engine, sessions and the declarative base.

SQLite (one file, zero set-up) is the embedded default; PostgreSQL is the production database.
The schema is created only by Alembic migrations (``vigil db upgrade``), never by
``create_all``, so migrations are exercised by every test run.

The boundary owns the transaction: a request or a job opens one session with
:func:`transaction`, services never commit, and the audit record of an action is written in
the same transaction as the action.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored in UTC and always comes back aware (UTC). SQLite keeps no
    time zone: without this, the same column came back naive there and aware on PostgreSQL,
    and answers mixed the two forms."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _private_file(path: Path) -> None:
    """The SQLite file (personal data, evidence metadata) readable by the service's user only:
    created 0600 in a 0700 folder; SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``. On SQLite, transactions take the write lock at BEGIN unless
    ``read_only`` (readers never block writers in WAL mode, so they need no lock)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below decide
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        if read_only:
            @event.listens_for(engine, "begin")
            def _begin_deferred(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")

            return engine

        _WRITE_LOCKS[engine] = threading.Lock()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock at the start: a deferred transaction that reads and then
            # writes fails at once with "database is locked" when another writer got there
            # first, instead of waiting its turn.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


#: SQLite engines' in-process write locks. Threads of one process queue here for the database's
#: single write lock instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms
#: (measured: p99 latency 144 ms -> see docs/benchmarks.md).
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    lock = _WRITE_LOCKS.get(factory.kw.get("bind"))  # type: ignore[arg-type]
    if lock is None:
        with _unit(factory) as session:
            yield session
        return
    with lock, _unit(factory) as session:
        yield session


@contextmanager
def _unit(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        for undo in session.info.pop("on_rollback", []):
            undo()  # side effects outside the database (e.g. a file written) are undone
        raise
    finally:
        session.info.pop("on_rollback", None)
        session.close()
