"""series_version: a random token in place of 0

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 01:40:00

Migration 0024 made the row with token 0, so a database restored from a backup older than 0024
and upgraded again came back with a token a worker may have seen with other series, and the
worker kept its index (decision 0036). Every token is now random: this one too.
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(sa.text("UPDATE series_version SET token = :t WHERE token = 0"),
                          {"t": secrets.randbits(62) + 1})


def downgrade() -> None:
    pass  # a random token is as good as 0 to the schema of 0024
