"""hotline referral: partner hotlines per country, referrals made and received, and when a
notice was passed to the hosting country's authority at classification

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 08:50:23

The hotline's secret is sealed like personal data (``pd1:...``, a Text column).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partner_hotlines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_org', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_org'], ['organisations.id'], name=op.f('fk_partner_hotlines_created_by_org_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_hotlines')),
    sa.UniqueConstraint('country', name=op.f('uq_partner_hotlines_country'))
    )
    op.create_table('inbound_referrals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('url_report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_org', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('classification', sa.String(length=24), nullable=False),
    sa.Column('hosting_country', sa.String(length=2), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['from_org'], ['organisations.id'], name=op.f('fk_inbound_referrals_from_org_organisations')),
    sa.ForeignKeyConstraint(['url_report_id'], ['url_reports.id'], name=op.f('fk_inbound_referrals_url_report_id_url_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_referrals')),
    sa.UniqueConstraint('from_org', 'reference', name=op.f('uq_inbound_referrals_from_org')),
    sa.UniqueConstraint('public_id', name=op.f('uq_inbound_referrals_public_id'))
    )
    with op.batch_alter_table('inbound_referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_referrals_from_org'), ['from_org'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_referrals_url_report_id'), ['url_report_id'], unique=False)

    op.create_table('referrals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('url_report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('hotline_id', sa.Integer(), nullable=True),
    sa.Column('hotline_name', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('remote_id', sa.String(length=64), nullable=True),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('poll_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['hotline_id'], ['partner_hotlines.id'], name=op.f('fk_referrals_hotline_id_partner_hotlines')),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_referrals_notice_id_notices')),
    sa.ForeignKeyConstraint(['url_report_id'], ['url_reports.id'], name=op.f('fk_referrals_url_report_id_url_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('public_id', name=op.f('uq_referrals_public_id'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_hotline_id'), ['hotline_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_url_report_id'), ['url_report_id'], unique=False)

    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authority_informed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('authority_job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_column('authority_job_id')
        batch_op.drop_column('authority_informed_at')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_url_report_id'))
        batch_op.drop_index(batch_op.f('ix_referrals_status'))
        batch_op.drop_index(batch_op.f('ix_referrals_hotline_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('inbound_referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_referrals_url_report_id'))
        batch_op.drop_index(batch_op.f('ix_inbound_referrals_from_org'))

    op.drop_table('inbound_referrals')
    op.drop_table('partner_hotlines')
