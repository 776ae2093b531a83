from __future__ import annotations

from alembic import context

from vigil.db import make_engine
from vigil.models import Base
from vigil.prevention.models import SEARCH_OBJECTS

config = context.config
target_metadata = Base.metadata


def _described(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate leaves full-text search's own objects alone (the prevention hub's FTS5
    table on SQLite, its GIN index on PostgreSQL): the migration creates them, no model does."""
    return not (name and name.startswith(SEARCH_OBJECTS))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, include_name=_described)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True, include_name=_described)
            with context.begin_transaction():
                context.run_migrations()
    finally:  # a migration that fails leaves no pooled connection open behind it
        engine.dispose()


run_migrations_online()
