"""prevention hub: who proposed (a person, not only a key), and search text folded

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 13:30:00

``prevention_proposals.proposer`` keeps the person behind a proposal (a staff account's name or
the key's holder), so that nobody decides on their own proposal through another key; rows from
before stay None (their key is still compared). ``prevention_entries.search_text`` is stored
case-folded, without diacritics and with punctuation as spaces
(``vigil.prevention.repository.fold``), as queries are, so
that PostgreSQL's 'simple' configuration and SQLite's FTS5 find the same entries; the existing
rows are folded here (the same steps, written out: a migration does not import the app) and
SQLite's FTS5 table is filled again from them.
"""
from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^\w\s]+", " ", bare)


def _refold() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, search_text FROM prevention_entries")).all()
    for ident, search_text in rows:
        conn.execute(sa.text("UPDATE prevention_entries SET search_text = :t WHERE id = :i"),
                     {"t": _fold(search_text), "i": ident})
    if conn.dialect.name == "sqlite":
        conn.execute(sa.text("DELETE FROM prevention_search"))
        conn.execute(sa.text("INSERT INTO prevention_search(rowid, search_text) "
                             "SELECT id, search_text FROM prevention_entries"))


def upgrade() -> None:
    with op.batch_alter_table('prevention_proposals') as batch:
        batch.add_column(sa.Column('proposer', sa.String(length=200), nullable=True))
    _refold()


def downgrade() -> None:
    # The folded text stays folded (the original is in each entry's fields and revisions).
    with op.batch_alter_table('prevention_proposals') as batch:
        batch.drop_column('proposer')
