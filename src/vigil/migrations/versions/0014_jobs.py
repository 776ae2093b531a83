"""jobs: a dead-letter state and creation times; periodic_runs, the lock that runs each
periodic task once across all workers

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 05:40:00

Jobs that had failed for good ("failed") are dead letters now ("dead"); jobs that existed before
take their run_after time as created_at and updated_at.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE jobs SET created_at = run_after, updated_at = run_after")
    op.execute("UPDATE jobs SET status = 'dead' WHERE status = 'failed'")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.alter_column('created_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_table('periodic_runs',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('running_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_runs'))
    )


def downgrade() -> None:
    op.drop_table('periodic_runs')
    op.execute("UPDATE jobs SET status = 'failed' WHERE status = 'dead'")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('created_at')
