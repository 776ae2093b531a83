"""exchange sources: count the runs that could not read a page at one checkpoint

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 16:00:00

``exchange_sources.unreadable_at`` / ``unreadable_runs`` remember at which checkpoint the last
import runs found a page they could not read, and how many runs in a row did; after
``VIGIL_EXCHANGE_UNREADABLE_RUNS`` of them the import steps past the page
(``vigil.sharing.imports``) and ``steps_in_row`` counts such steps (each doubles the window
skipped). Existing sources start with no unreadable page.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exchange_sources') as batch:
        batch.add_column(sa.Column('unreadable_at', sa.Text(), nullable=True))
        batch.add_column(sa.Column('unreadable_runs', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('steps_in_row', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('exchange_sources') as batch:
        batch.drop_column('steps_in_row')
        batch.drop_column('unreadable_runs')
        batch.drop_column('unreadable_at')
