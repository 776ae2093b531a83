"""The migrations build exactly the schema the models describe (Alembic's own comparison, on
both databases): a model changed without a migration, or a migration that drifts from the
models, fails here rather than in a deployment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import alembic.command
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text

from tests.fixtures.db import _postgres_database
from vigil.db import make_engine, session_factory
from vigil.migrations import (
    VERSIONS,
    UnknownRevision,
    UnversionedSchema,
    config,
    current,
    head,
    upgrade,
)
from vigil.models import Base
from vigil.orgs.models import ApiKey, Organisation
from vigil.prevention.models import SEARCH_OBJECTS


def _described(name: str | None, type_: str, parent_names: object) -> bool:
    """Full-text search's own objects (an FTS5 table and its shadow tables on SQLite, a GIN
    expression index on PostgreSQL) are the migration's alone: no model describes them."""
    return not (name and name.startswith(SEARCH_OBJECTS))


def test_migrations_match_the_models(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_name": _described})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    gen = _postgres_database()
    url = next(gen)
    yield url
    for _ in gen:
        pass


def test_0023_puts_series_keys_the_centre_issued_back_to_waiting(fresh_url: str) -> None:
    """Decision 0035 made series:link a vouched scope; keys issued before were approved at
    issue. After the upgrade those another organisation issued wait for a second party —
    keys the operator issued, keys an organisation issued itself, keys a second party
    approved, revoked keys and keys without series:link are as they were."""
    upgrade(fresh_url, "0022")
    engine = make_engine(fresh_url)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    with session_factory(engine)() as s, s.begin():
        s.add_all([Organisation(id=1, name="Centre", kind="centre", created_at=t, approved_at=t),
                   Organisation(id=2, name="LKA", kind="authority", member_state="DE",
                                created_at=t, approved_at=t),
                   Organisation(id=3, name="Auditor", kind="auditor", created_at=t,
                                approved_at=t)])
        rows = {  # id: (issued by, scopes, approved by, revoked)
            1: (1, "match series:link", None, False),  # the Centre's, for LKA: back to waiting
            2: (None, "series:link", None, False),  # the operator's
            3: (2, "series:link", None, False),  # LKA's own
            4: (1, "series:link", 3, False),  # the auditor approved it
            5: (1, "series:link", None, True),  # revoked
            6: (1, "match", None, False),  # no series scope
            7: (1, "series:linker match", None, False),  # no such scope: a word, not a prefix
        }
        s.add_all(ApiKey(id=i, organisation_id=2, holder=f"k{i}", prefix=f"p{i}",
                         secret_hash="0" * 64, scopes=scopes, created_at=t, issued_by_org=by,
                         approved_at=t, approved_by_org=approver,
                         revoked_at=t if revoked else None)
                  for i, (by, scopes, approver, revoked) in rows.items())
    upgrade(fresh_url)
    with session_factory(engine)() as s:
        waiting = {k.id for k in s.scalars(select(ApiKey)) if k.approved_at is None}
    engine.dispose()
    assert waiting == {1}


def test_the_head_read_from_file_names_is_alembics_and_revisions_form_one_line() -> None:
    """``vigil.migrations.head`` reads the newest file's number instead of loading every
    script; that holds only while each revision is its file's number and revises the one
    before."""
    script = ScriptDirectory.from_config(config("sqlite://"))
    assert head() == script.get_current_head()
    files = sorted(VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert len(files) == len(list(script.walk_revisions()))
    for before, path in zip([None, *files], files, strict=False):
        rev = script.get_revision(path.name[:4])
        assert rev is not None and rev.path == str(path)
        assert rev.down_revision == (before.name[:4] if before else None)


def test_a_current_database_is_left_alone_and_an_old_one_is_upgraded(
        fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert current(fresh_url) is None
    upgrade(fresh_url, "0024")
    assert current(fresh_url) == "0024"
    upgrade(fresh_url)
    assert current(fresh_url) == head()

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("Alembic ran on a database already at its head")

    monkeypatch.setattr(alembic.command, "upgrade", must_not_run)
    upgrade(fresh_url)
    monkeypatch.undo()
    # A version table that does not name one revision is never skipped, and never guessed:
    # several rows, or none, over vigil's tables are refused (nothing changes).
    engine = make_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0024')"))
    engine.dispose()
    assert current(fresh_url) is None
    for state in ("two rows", "empty", "dropped"):
        if state == "empty":
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM alembic_version"))
        if state == "dropped":
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE alembic_version"))
        engine.dispose()
        with pytest.raises(UnversionedSchema, match="no vigil schema version"):
            upgrade(fresh_url)
        assert current(fresh_url) is None
    engine = make_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0031')"))
    engine.dispose()
    with pytest.raises(UnknownRevision, match="'0031', which this vigil does not know"):
        upgrade(fresh_url)
    assert current(fresh_url) == "0031"
    # Another application's Alembic in the same database: said so, not "a newer vigil".
    engine = make_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ae1027a6acf'"))
    engine.dispose()
    with pytest.raises(UnknownRevision, match="not a vigil revision"):
        upgrade(fresh_url)
    # Another application's table that vigil's first migration would create: named, not
    # an Alembic error half-way.
    engine = make_engine(fresh_url)
    with engine.begin() as conn:
        for name in ("alembic_version", "audit_events", "indicators"):
            conn.execute(text(f"DROP TABLE {name} CASCADE" if engine.dialect.name ==
                              "postgresql" else f"DROP TABLE {name}"))
    engine.dispose()
    with pytest.raises(UnversionedSchema, match=r"tables vigil creates \(hash_lists\)"):
        upgrade(fresh_url)
