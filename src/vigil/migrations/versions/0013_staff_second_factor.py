"""staff accounts get a second factor (TOTP with one-time recovery codes); a workspace session
may wait for it

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 05:30:00

Accounts that existed before are not enrolled: those whose role needs a second factor set it
up at their next sign-in. Sessions that existed before are complete ones.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('totp_enrolled_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.String(length=16), nullable=True))
    op.create_table(
        'staff_recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['staff_accounts.id'],
                                name=op.f('fk_staff_recovery_codes_account_id_staff_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_recovery_codes')))
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_recovery_codes_account_id'), ['account_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_recovery_codes_account_id'))
    op.drop_table('staff_recovery_codes')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_column('pending')
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enrolled_at')
        batch_op.drop_column('totp_secret')
