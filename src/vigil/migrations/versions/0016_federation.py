"""partner centres: their agreements, the provenance of imported indicators, quarantined records

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 09:09:32

A partner is another vigil instance whose signed list the Centre imports (vigil.federation);
removed partners keep their row, which the provenance of imported indicators refers to.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('remote_list', sa.String(length=64), nullable=False),
    sa.Column('local_list_id', sa.Integer(), nullable=False),
    sa.Column('origin_verification_counts', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('import_key_id', sa.Integer(), nullable=False),
    sa.Column('log_trust', sa.Text(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('list_seq', sa.BigInteger(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['import_key_id'], ['api_keys.id'], name=op.f('fk_partners_import_key_id_api_keys')),
    sa.ForeignKeyConstraint(['local_list_id'], ['hash_lists.id'], name=op.f('fk_partners_local_list_id_hash_lists')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_partners_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners'))
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partners_name'), ['name'], unique=False)

    op.create_table('partner_indicators',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('origin_id', sa.BigInteger(), nullable=False),
    sa.Column('origin_seq', sa.BigInteger(), nullable=False),
    sa.Column('origin_log_size', sa.BigInteger(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_partner_indicators_indicator_id_indicators')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_indicators_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_indicators')),
    sa.UniqueConstraint('indicator_id', name=op.f('uq_partner_indicators_indicator_id'))
    )
    with op.batch_alter_table('partner_indicators', schema=None) as batch_op:
        batch_op.create_index('ix_partner_indicators_origin', ['partner_id', 'origin_id'], unique=False)

    op.create_table('partner_quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('origin_seq', sa.BigInteger(), nullable=True),
    sa.Column('origin_id', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_quarantine_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_quarantine'))
    )
    with op.batch_alter_table('partner_quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_quarantine_partner_id'), ['partner_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('partner_quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_quarantine_partner_id'))

    op.drop_table('partner_quarantine')
    with op.batch_alter_table('partner_indicators', schema=None) as batch_op:
        batch_op.drop_index('ix_partner_indicators_origin')

    op.drop_table('partner_indicators')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partners_name'))

    op.drop_table('partners')
