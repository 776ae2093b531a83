"""imports from hash-sharing programmes: sources with their checkpoints, the records each
indicator came from, the problems an import skipped

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('exchange_sources',
    sa.Column('id', _ID, nullable=False),
    sa.Column('programme', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('checkpoint', sa.Text(), nullable=True),
    sa.Column('proposed', sa.Integer(), nullable=False),
    sa.Column('already_listed', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('withdrawn', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['hash_lists.id'], name=op.f('fk_exchange_sources_list_id_hash_lists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_sources')),
    sa.UniqueConstraint('programme', 'name', 'list_id', name=op.f('uq_exchange_sources_programme'))
    )
    op.create_table('exchange_records',
    sa.Column('id', _ID, nullable=False),
    sa.Column('source_id', _ID, nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('indicator_id', _ID, nullable=False),
    sa.Column('meta', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_exchange_records_indicator_id_indicators')),
    sa.ForeignKeyConstraint(['source_id'], ['exchange_sources.id'], name=op.f('fk_exchange_records_source_id_exchange_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_records'))
    )
    with op.batch_alter_table('exchange_records', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_records_source_key', ['source_id', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_records_indicator_id'), ['indicator_id'], unique=False)
    op.create_table('exchange_problems',
    sa.Column('id', _ID, nullable=False),
    sa.Column('source_id', _ID, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['exchange_sources.id'], name=op.f('fk_exchange_problems_source_id_exchange_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_problems'))
    )
    with op.batch_alter_table('exchange_problems', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_problems_source_id'), ['source_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exchange_problems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_problems_source_id'))
    op.drop_table('exchange_problems')
    with op.batch_alter_table('exchange_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_records_indicator_id'))
        batch_op.drop_index('ix_exchange_records_source_key')
    op.drop_table('exchange_records')
    op.drop_table('exchange_sources')
