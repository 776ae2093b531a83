"""keys that act as a second party, issued by another organisation, are approved by one

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 02:00:00

Keys that existed before are taken as approved and as issued by the operator (their log
entries carry neither, and the log audit reads them the same way).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_by_org', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approved_by_org', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_issued_by_org_organisations'),
                                    'organisations', ['issued_by_org'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_approved_by_org_organisations'),
                                    'organisations', ['approved_by_org'], ['id'])
    op.execute("UPDATE api_keys SET approved_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_approved_by_org_organisations'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_api_keys_issued_by_org_organisations'),
                                 type_='foreignkey')
        batch_op.drop_column('approved_by_org')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('issued_by_org')
