"""Alembic migrations, run programmatically (no alembic.ini needed): ``vigil db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
VERSIONS = HERE / "versions"


class SchemaError(Exception):
    """The database's schema is not one this vigil can bring to its head. Nothing is changed;
    the message is one line that names the problem and what to do."""


class UnknownRevision(SchemaError):
    """The database's schema is at a revision this vigil has no migration for: a newer vigil
    migrated it (or its version table was edited)."""


class UnversionedSchema(SchemaError):
    """The database holds tables vigil creates, but its version table does not name one
    revision (emptied, dropped or given several rows; or the tables are another
    application's): which migrations ran cannot be known, and running them all again would
    fail half-way on the first table that exists."""


#: Tables the first migration creates: any of them without a version means the database is
#: not one vigil can migrate from the start.
_FIRST_TABLES = ("hash_lists", "indicators", "audit_events")


def config(url: str) -> Config:
    from alembic.config import Config  # Alembic is imported only when there is work for it

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def revisions() -> set[str]:
    """Every revision this vigil has a migration for, read from the file names alone.

    Each migration's revision is its file's four-digit number and revises the one before
    (``tests/test_migrations.py`` checks both against Alembic's own reading), so the names
    suffice: no migration script is loaded (Alembic's way, ~0.4 s with its own import, and
    every ``vigil`` command checks the schema before it starts)."""
    return {p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")}


def head() -> str:
    """The newest revision, e.g. ``"0025"``."""
    return max(revisions())


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; None when it was never migrated, or when
    its ``alembic_version`` does not hold exactly one."""
    return _state(url)[0]


def _state(url: str) -> tuple[str | None, list[str]]:
    """(:func:`current`, which of the first migration's tables are there), over one
    connection; the tables are looked for only when no single revision is recorded (every
    command checks the schema as it starts)."""
    from sqlalchemy import inspect, text

    from vigil.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            if found.has_table("alembic_version"):
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
                if len(rows) == 1:
                    return rows[0], []
            return None, [name for name in _FIRST_TABLES if found.has_table(name)]
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (nothing to do: returns at once).

    Raises:
        UnknownRevision: the database is at a revision this vigil does not know (an older
            vigil started on a database a newer one migrated): nothing is changed.
        UnversionedSchema: tables vigil creates are there but no single revision is
            recorded: nothing is changed.
    """
    at, tables = _state(url)
    if revision == "head" and at == head():
        return
    if at is None and tables:
        raise UnversionedSchema(
            f"the database holds tables vigil creates ({', '.join(tables)}) but no vigil "
            f"schema version (alembic_version is empty, missing or holds several rows), so "
            f"which migrations ran cannot be known: restore a backup (docs/operations.md), "
            f"record the revision the schema is at in alembic_version if you know it, or, if "
            f"the tables are another application's, give vigil a database of its own")
    if at is not None and not (len(at) == 4 and at.isdigit()):
        raise UnknownRevision(
            f"the database's alembic_version holds revision {at!r}, which is not a vigil "
            f"revision (vigil's are four digits): another application's migrations use this "
            f"database; give vigil a database of its own")
    if at is not None and at not in revisions():
        raise UnknownRevision(
            f"the database's schema is at revision {at!r}, which this vigil does not know "
            f"(its newest is {head()}): run the vigil release that migrated it, or restore a "
            f"backup made before that release (docs/operations.md)")
    from alembic import command

    command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(config(url), revision)
