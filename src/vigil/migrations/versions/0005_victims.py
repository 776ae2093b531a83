"""victim-led removal: cases and their hashes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 20:16:34.381124
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('victim_cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_number', sa.String(length=32), nullable=False),
    sa.Column('pin_hash', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('age_group', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_pins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_victim_cases')),
    sa.UniqueConstraint('case_number', name=op.f('uq_victim_cases_case_number'))
    )
    op.create_table('victim_case_hashes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('indicator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['victim_cases.id'], name=op.f('fk_victim_case_hashes_case_id_victim_cases')),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_victim_case_hashes_indicator_id_indicators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_victim_case_hashes'))
    )
    with op.batch_alter_table('victim_case_hashes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_victim_case_hashes_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_victim_case_hashes_indicator_id'), ['indicator_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('victim_case_hashes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_victim_case_hashes_indicator_id'))
        batch_op.drop_index(batch_op.f('ix_victim_case_hashes_case_id'))

    op.drop_table('victim_case_hashes')
    op.drop_table('victim_cases')
