"""the prevention hub: entries, proposals, history, and full-text search

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 09:40:00

Full-text search is the database's own: an FTS5 table on SQLite (``prevention_search``,
rowid = the entry's id, kept by the repository), a GIN index over
``to_tsvector('simple', search_text)`` on PostgreSQL. Neither is described by a model
(``vigil.prevention.models.SEARCH_OBJECTS``).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'prevention_entries',
        sa.Column('id', _ID, nullable=False),
        sa.Column('public_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('country', sa.String(length=3), nullable=False),
        sa.Column('languages', sa.String(length=200), nullable=False),
        sa.Column('targets', sa.String(length=200), nullable=False),
        sa.Column('details', sa.Text(), nullable=False),
        sa.Column('source_url', sa.String(length=500), nullable=False),
        sa.Column('source_read', sa.Date(), nullable=False),
        sa.Column('source_how', sa.String(length=100), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('search_text', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prevention_entries')),
        sa.UniqueConstraint('public_id', name=op.f('uq_prevention_entries_public_id')),
    )
    with op.batch_alter_table('prevention_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prevention_entries_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_prevention_entries_country'), ['country'], unique=False)
        batch_op.create_index(batch_op.f('ix_prevention_entries_published_at'), ['published_at'],
                              unique=False)
    op.create_table(
        'prevention_proposals',
        sa.Column('id', _ID, nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('entry_id', _ID, nullable=True),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('proposed_by_org', sa.Integer(), nullable=False),
        sa.Column('proposed_by_key', sa.Integer(), nullable=False),
        sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by_org', sa.Integer(), nullable=True),
        sa.Column('decided_by_key', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['entry_id'], ['prevention_entries.id'],
                                name=op.f('fk_prevention_proposals_entry_id_prevention_entries')),
        sa.ForeignKeyConstraint(['proposed_by_org'], ['organisations.id'],
                                name=op.f('fk_prevention_proposals_proposed_by_org_organisations')),
        sa.ForeignKeyConstraint(['proposed_by_key'], ['api_keys.id'],
                                name=op.f('fk_prevention_proposals_proposed_by_key_api_keys')),
        sa.ForeignKeyConstraint(['decided_by_org'], ['organisations.id'],
                                name=op.f('fk_prevention_proposals_decided_by_org_organisations')),
        sa.ForeignKeyConstraint(['decided_by_key'], ['api_keys.id'],
                                name=op.f('fk_prevention_proposals_decided_by_key_api_keys')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prevention_proposals')),
        sa.UniqueConstraint('public_id', name=op.f('uq_prevention_proposals_public_id')),
    )
    with op.batch_alter_table('prevention_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prevention_proposals_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prevention_proposals_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_prevention_proposals_proposed_by_org'), ['proposed_by_org'],
                              unique=False)
    op.create_table(
        'prevention_revisions',
        sa.Column('id', _ID, nullable=False),
        sa.Column('entry_id', _ID, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('proposal_id', _ID, nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['prevention_entries.id'],
                                name=op.f('fk_prevention_revisions_entry_id_prevention_entries')),
        sa.ForeignKeyConstraint(['proposal_id'], ['prevention_proposals.id'],
                                name=op.f('fk_prevention_revisions_proposal_id_prevention_proposals')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prevention_revisions')),
    )
    with op.batch_alter_table('prevention_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prevention_revisions_entry_id'), ['entry_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE INDEX ix_prevention_entries_fulltext ON prevention_entries "
                   "USING gin (to_tsvector('simple', search_text))")
    else:
        op.execute("CREATE VIRTUAL TABLE prevention_search USING fts5(search_text, "
                   "tokenize = 'unicode61 remove_diacritics 2')")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_prevention_entries_fulltext")
    else:
        op.execute("DROP TABLE IF EXISTS prevention_search")
    op.drop_table('prevention_revisions')
    op.drop_table('prevention_proposals')
    op.drop_table('prevention_entries')
