"""Database engine, sessions and the declarative base.

SQLite (one file, zero set-up) is the embedded default; PostgreSQL is the production database.
The schema is created only by Alembic migrations (``vigil db upgrade``), never by
``create_all``, so migrations are exercised by every test run.

The boundary owns the transaction: a request or a job opens one session with
:func:`transaction`, services never commit, and the audit record of an action is written in
the same transaction as the action.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import DateTime, MetaData, Text, TypeDecorator, create_engine, event, literal_column, select, update
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DontWrapMixin
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


class Unstorable(DontWrapMixin, ValueError):
    """A value the database cannot hold: text with the NUL character (U+0000), which
    PostgreSQL's text cannot store, or a time that has no UTC equivalent. Refused on SQLite
    too, so that both databases hold the same data; the boundaries turn it into an answer that
    names the problem (a 422 in the API). Raised as it is, not wrapped in SQLAlchemy's
    ``StatementError``."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored in UTC and always comes back aware (UTC). SQLite keeps no
    time zone: without this, the same column came back naive there and aware on PostgreSQL,
    and answers mixed the two forms."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is a time before year 1 in UTC
            raise Unstorable(f"the time {value.isoformat()} is out of range in UTC") from None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class ColumnKeyMissing(RuntimeError):
    """Sealed personal data whose key this process does not hold (``VIGIL_FILE_KEY`` changed
    or not given)."""


_SEAL_PREFIX = "pd1:"
_column_keys: dict[str, AESGCM] = {}
_current_key: list[str] = []
_keys_lock = threading.Lock()


def column_key_from(file_key: bytes) -> bytes:
    """The 32-byte key for personal-data columns, derived from the evidence-file key
    (HKDF-SHA256, RFC 5869) so that one secret is kept and each use has its own key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"vigil personal-data columns v1").derive(file_key)


def column_key_id(key: bytes) -> str:
    """The id a sealed value carries of the column key that sealed it."""
    return hashlib.sha256(b"vigil-column-key-id" + key).hexdigest()[:12]


#: What reloads the keys when their files change (a file-key rotation): set by the file store
#: (:meth:`vigil.reports.storage.FileStore.for_settings`); looked at, at most once a second,
#: before sealing, and at once when a value names a key this process does not hold.
_key_source: list[Callable[[], object]] = []
_last_check = [0.0]


def watch_column_keys(reload: Callable[[], object]) -> None:
    """Have this process pick up rotated keys by calling ``reload`` (which calls
    :func:`use_column_key` for keys it finds) — without a restart."""
    with _keys_lock:
        _key_source[:] = [reload]


def _reload_keys(force: bool = False) -> None:
    with _keys_lock:
        source = _key_source[0] if _key_source else None
        t = time.monotonic()
        if source is None or (not force and t - _last_check[0] < 1.0):
            return
        _last_check[0] = t
    try:
        source()  # outside the lock: it calls use_column_key
    except (OSError, ValueError) as exc:  # keep the keys held; the files may be mid-write
        logging.getLogger("vigil.db").warning("column keys not reloaded: %s", exc)


def use_column_key(key: bytes) -> str:
    """Seal personal-data columns with ``key`` from now on in this process (values sealed
    with keys used before stay readable). Returns the key's id, which each value carries."""
    if len(key) != 32:
        raise ValueError("a column key is 32 bytes (AES-256)")
    kid = column_key_id(key)
    with _keys_lock:
        _column_keys[kid] = AESGCM(key)
        _current_key[:] = [kid]
    return kid


def seal_text(value: str, where: str) -> str:
    """``value`` sealed with AES-256-GCM as ``pd1:<key id>:<base64(nonce ‖ ciphertext)>``;
    ``where`` (``table.column``) is bound as associated data, so a value moved to another
    column does not open. Raises :class:`ColumnKeyMissing` when no key is in use."""
    _reload_keys()
    with _keys_lock:
        if not _current_key:
            raise ColumnKeyMissing("no key for personal data: the process did not load "
                                   "VIGIL_FILE_KEY (vigil.reports.storage.load_file_key)")
        kid = _current_key[0]
        aead = _column_keys[kid]
    nonce = os.urandom(12)
    ct = aead.encrypt(nonce, value.encode("utf-8", "surrogatepass"), where.encode())
    return f"{_SEAL_PREFIX}{kid}:{base64.b64encode(nonce + ct).decode()}"


def open_text(stored: str, where: str) -> str:
    """The value :func:`seal_text` sealed. A value written before columns were sealed (no
    ``pd1:`` prefix) comes back as it is until :func:`reseal_plaintext` rewrites it."""
    if not stored.startswith(_SEAL_PREFIX):
        return stored
    kid, _, blob = stored[len(_SEAL_PREFIX):].partition(":")
    with _keys_lock:
        aead = _column_keys.get(kid)
    if aead is None:  # sealed after a rotation by a process that already has the new key?
        _reload_keys(force=True)
        with _keys_lock:
            aead = _column_keys.get(kid)
    if aead is None:
        raise ColumnKeyMissing(f"personal data in {where} is sealed with key {kid}, which "
                               "this process does not hold (was VIGIL_FILE_KEY changed?)")
    raw = base64.b64decode(blob)
    return aead.decrypt(raw[:12], raw[12:], where.encode()).decode("utf-8", "surrogatepass")


class PersonalText(TypeDecorator[str]):
    """Free text that may hold personal data and that nothing queries (a report's details,
    a complainant's statement): sealed before it reaches the database and opened when read,
    like the evidence files (issue 13). ``where`` names the column for the associated data."""

    impl = Text
    cache_ok = True

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal_text(value, self.where)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else open_text(value, self.where)


def personal_columns() -> list[tuple[Any, Any]]:
    """Every (table, column) declared :class:`PersonalText`: found from the metadata, so a new
    one is sealed, swept and tested without a list to keep in step."""
    return [(t, c) for t in Base.metadata.sorted_tables for c in t.columns
            if isinstance(c.type, PersonalText)]


def reseal_plaintext(session: Session, batch: int = 500) -> int:
    """Rewrite up to ``batch`` personal values per column that are not sealed with the current
    key: stored before sealing (a database from an older version), or sealed with a previous
    key (after ``vigil keys rotate --file-key``). Returns how many were sealed."""
    with _keys_lock:
        current = f"{_SEAL_PREFIX}{_current_key[0]}:" if _current_key else None
    if current is None:
        return 0
    n = 0
    for table, col in personal_columns():
        raw = literal_column(f"{table.name}.{col.name}", Text())  # as stored, not opened
        rows = session.execute(select(table.c.id, raw).where(
            col.isnot(None), ~raw.startswith(current)).limit(batch)).all()
        for row_id, value in rows:
            try:
                clear = open_text(value, getattr(col.type, "where", ""))
            except ColumnKeyMissing:
                continue  # sealed with a key this process lacks: left as it is, still sealed
            session.execute(update(table).where(table.c.id == row_id).values({col.name: clear}))
            n += 1
    return n


def sealed_with(session: Session) -> dict[str, int]:
    """How many personal values each column key id has sealed (``plain``: not sealed)."""
    counts: dict[str, int] = {}
    for table, col in personal_columns():
        raw = literal_column(f"{table.name}.{col.name}", Text())
        for (value,) in session.execute(select(raw).where(col.isnot(None))):
            kid = value[len(_SEAL_PREFIX):].partition(":")[0] \
                if value.startswith(_SEAL_PREFIX) else "plain"
            counts[kid] = counts.get(kid, 0) + 1
    return counts


def current_column_key_id() -> str | None:
    with _keys_lock:
        return _current_key[0] if _current_key else None


def private_dir(path: Path) -> Path:
    """A folder of vigil's data (the data folder, the evidence store) that only the service's
    user may enter: created 0700, and narrowed to 0700 when found wider (an older version, or
    a hand-made folder). Returns ``path``."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def _private_file(path: Path) -> None:
    """The SQLite file (personal data, evidence metadata) readable by the service's user only:
    created 0600 in a 0700 folder; SQLite gives its -wal and -shm files the same mode."""
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _bound_values(parameters: Any, names: Sequence[str] | None) -> Iterator[tuple[str | None, Any]]:
    """(name, value) of every bound parameter: a dict or a tuple (``names`` in its order), or
    a list of them (executemany)."""
    if isinstance(parameters, Mapping):
        yield from parameters.items()
    elif isinstance(parameters, tuple):
        for i, value in enumerate(parameters):
            yield (names[i] if names is not None and i < len(names) else None), value
    elif isinstance(parameters, list):
        for row in parameters:
            yield from _bound_values(row, names)


#: SQLAlchemy's suffix of a bound parameter's name (``name_1``, ``legal_basis__0``).
_PARAM_SUFFIX = re.compile(r"_+\d+$")


def _refuse_nul(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
    """Before every statement: no text with NUL reaches the database, whichever way it came
    (an API body, a query string, a form, a crawled page), so that PostgreSQL never fails on
    it in the middle of a transaction."""
    compiled = getattr(context, "compiled", None)
    names = getattr(compiled, "positiontup", None)
    for name, value in _bound_values(parameters, names):
        if isinstance(value, str) and "\x00" in value:
            where = f" ({_PARAM_SUFFIX.sub('', name)})" if name else ""
            raise Unstorable(f"text may not contain the NUL character (U+0000){where}")


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; it refuses text with NUL (:class:`Unstorable`) on every
    database. On SQLite, transactions take the write lock at BEGIN unless ``read_only``
    (readers never block writers in WAL mode, so they need no lock)."""
    engine = _engine(url, read_only=read_only, **kwargs)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _engine(url: str, *, read_only: bool, **kwargs: Any) -> Engine:
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
