"""series linking across cases: registered case series and their PDQ hashes

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 09:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_series',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=False),
        sa.Column('discoverable', sa.Boolean(), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_case_series_organisation_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_series')),
    )
    with op.batch_alter_table('case_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_series_organisation_id'), ['organisation_id'],
                              unique=False)
    op.create_table(
        'case_series_hashes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('series_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('item', sa.Integer(), nullable=False),
        sa.Column('pdq', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['series_id'], ['case_series.id'],
                                name=op.f('fk_case_series_hashes_series_id_case_series')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_series_hashes')),
    )
    with op.batch_alter_table('case_series_hashes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_series_hashes_series_id'), ['series_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_series_hashes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_series_hashes_series_id'))
    op.drop_table('case_series_hashes')
    with op.batch_alter_table('case_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_series_organisation_id'))
    op.drop_table('case_series')
