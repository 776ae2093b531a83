"""notice and takedown: URL reports, notices, hosting directory, crawls

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 19:09:51.526612
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crawls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seeds', sa.Text(), nullable=False),
    sa.Column('allowed_domains', sa.Text(), nullable=False),
    sa.Column('options', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crawls'))
    )
    op.create_table('hosting_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('match', sa.String(length=255), nullable=False),
    sa.Column('provider', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('webhook', sa.Text(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hosting_contacts')),
    sa.UniqueConstraint('match', name=op.f('uq_hosting_contacts_match'))
    )
    op.create_table('crawl_urls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('crawl_id', sa.Integer(), nullable=False),
    sa.Column('url_key', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('matched', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['crawl_id'], ['crawls.id'], name=op.f('fk_crawl_urls_crawl_id_crawls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crawl_urls')),
    sa.UniqueConstraint('crawl_id', 'url_key', name=op.f('uq_crawl_urls_crawl_id'))
    )
    with op.batch_alter_table('crawl_urls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crawl_urls_crawl_id'), ['crawl_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crawl_urls_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_crawl_urls_state'), ['state'], unique=False)

    op.create_table('url_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reporter_org', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('classification', sa.String(length=24), nullable=True),
    sa.Column('classification_country', sa.String(length=2), nullable=True),
    sa.Column('classified_by_org', sa.Integer(), nullable=True),
    sa.Column('classified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('indicator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('list_name', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['classified_by_org'], ['organisations.id'], name=op.f('fk_url_reports_classified_by_org_organisations')),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_url_reports_indicator_id_indicators')),
    sa.ForeignKeyConstraint(['reporter_org'], ['organisations.id'], name=op.f('fk_url_reports_reporter_org_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_url_reports')),
    sa.UniqueConstraint('public_id', name=op.f('uq_url_reports_public_id'))
    )
    with op.batch_alter_table('url_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_url_reports_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_url_reports_host'), ['host'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('url_report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('hosting_country', sa.String(length=2), nullable=True),
    sa.Column('provider', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('webhook', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('indicator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('victim_submitted', sa.Boolean(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_action_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sends', sa.Integer(), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removal_evidence', sa.String(length=32), nullable=True),
    sa.Column('reupload_of', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_notices_indicator_id_indicators')),
    sa.ForeignKeyConstraint(['reupload_of'], ['notices.id'], name=op.f('fk_notices_reupload_of_notices')),
    sa.ForeignKeyConstraint(['url_report_id'], ['url_reports.id'], name=op.f('fk_notices_url_report_id_url_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_host'), ['host'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_hosting_country'), ['hosting_country'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_indicator_id'), ['indicator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_next_action_at'), ['next_action_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_url_report_id'), ['url_report_id'], unique=False)

    op.create_table('notice_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_events_notice_id_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_events'))
    )
    with op.batch_alter_table('notice_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_events_notice_id'), ['notice_id'], unique=False)

    op.create_table('notice_hashes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_type', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_hashes_notice_id_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_hashes'))
    )
    with op.batch_alter_table('notice_hashes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_hashes_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_hashes_value'), ['value'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notice_hashes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_hashes_value'))
        batch_op.drop_index(batch_op.f('ix_notice_hashes_notice_id'))

    op.drop_table('notice_hashes')
    with op.batch_alter_table('notice_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_events_notice_id'))

    op.drop_table('notice_events')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_url_report_id'))
        batch_op.drop_index(batch_op.f('ix_notices_status'))
        batch_op.drop_index(batch_op.f('ix_notices_next_action_at'))
        batch_op.drop_index(batch_op.f('ix_notices_indicator_id'))
        batch_op.drop_index(batch_op.f('ix_notices_hosting_country'))
        batch_op.drop_index(batch_op.f('ix_notices_host'))

    op.drop_table('notices')
    with op.batch_alter_table('url_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_url_reports_host'))
        batch_op.drop_index(batch_op.f('ix_url_reports_created_at'))

    op.drop_table('url_reports')
    with op.batch_alter_table('crawl_urls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crawl_urls_state'))
        batch_op.drop_index(batch_op.f('ix_crawl_urls_sha256'))
        batch_op.drop_index(batch_op.f('ix_crawl_urls_crawl_id'))

    op.drop_table('crawl_urls')
    op.drop_table('hosting_contacts')
    op.drop_table('crawls')
