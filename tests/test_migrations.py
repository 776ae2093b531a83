"""The migrations build exactly the schema the models describe (Alembic's own comparison, on
both databases): a model changed without a migration, or a migration that drifts from the
models, fails here rather than in a deployment."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from vigil.models import Base
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
