"""a list takes robust hits (a query's variants: mirrors, trims, turns) only when the Centre
opts it in

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 03:10:00

Lists that existed before take none: robust matching is new, and opt-in per list.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hash_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('robust', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('hash_lists', schema=None) as batch_op:
        batch_op.drop_column('robust')
