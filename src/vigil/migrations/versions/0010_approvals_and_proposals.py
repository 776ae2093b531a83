"""reviewing organisations are approved by a second party; hosting-directory proposals

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 03:00:00

Organisations that existed before are taken as approved (they were created under the old
rules; their log entries carry no approval either, and the log audit reads them the same way).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approved_by_org', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_organisations_approved_by_org_organisations'),
                                    'organisations', ['approved_by_org'], ['id'])
    op.execute("UPDATE organisations SET approved_at = created_at")

    op.create_table('hosting_contact_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('match', sa.String(length=255), nullable=False),
    sa.Column('provider', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('webhook', sa.Text(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('proposed_by_org', sa.Integer(), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_org', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['proposed_by_org'], ['organisations.id'], name=op.f('fk_hosting_contact_proposals_proposed_by_org_organisations')),
    sa.ForeignKeyConstraint(['decided_by_org'], ['organisations.id'], name=op.f('fk_hosting_contact_proposals_decided_by_org_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hosting_contact_proposals'))
    )
    with op.batch_alter_table('hosting_contact_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hosting_contact_proposals_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('hosting_contact_proposals')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organisations_approved_by_org_organisations'), type_='foreignkey')
        batch_op.drop_column('approved_by_org')
        batch_op.drop_column('approved_at')
