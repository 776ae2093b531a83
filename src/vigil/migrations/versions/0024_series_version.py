"""series_version: one token of the state of the series that de-confliction searches

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 22:10:00

Each server worker keeps one index of every discoverable series hash and rebuilds it only when
``series_version.token`` has changed (a new random number at every change; decision 0035): an
ask no longer reads and indexes every other organisation's hashes each time.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'series_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(table, [{'id': 1, 'token': 0}])


def downgrade() -> None:
    op.drop_table('series_version')
