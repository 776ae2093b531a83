"""evidence files name the key they are encrypted with, so that file keys can be rotated

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 05:40:00

Files stored before have none (NULL): any key of the ring may open them, and the worker's
re-encryption gives them the current key's id.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_report_files_key_id'), ['key_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_files_key_id'))
        batch_op.drop_column('key_id')
