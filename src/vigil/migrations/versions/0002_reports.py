"""reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:42:09.669081
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_status'), ['status'], unique=False)

    op.create_table('reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('provider_org', sa.Integer(), nullable=False),
    sa.Column('provider_key', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('incident_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('concerns', sa.String(length=24), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('urgent_reason', sa.Text(), nullable=True),
    sa.Column('legal_basis', sa.String(length=200), nullable=False),
    sa.Column('declared_country', sa.String(length=2), nullable=True),
    sa.Column('content_removed', sa.Boolean(), nullable=False),
    sa.Column('incident_type', sa.String(length=64), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('assessment', sa.String(length=32), nullable=True),
    sa.Column('assessment_reason', sa.Text(), nullable=True),
    sa.Column('jurisdictions', sa.String(length=200), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('forwarded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retracted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('personal_data_deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_decision', sa.String(length=24), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.Column('reviewed_by_org', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['provider_key'], ['api_keys.id'], name=op.f('fk_reports_provider_key_api_keys')),
    sa.ForeignKeyConstraint(['provider_org'], ['organisations.id'], name=op.f('fk_reports_provider_org_organisations')),
    sa.ForeignKeyConstraint(['reviewed_by_org'], ['organisations.id'], name=op.f('fk_reports_reviewed_by_org_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('provider_org', 'idempotency_key', name=op.f('uq_reports_provider_org')),
    sa.UniqueConstraint('public_id', name=op.f('uq_reports_public_id'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_priority'), ['priority'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_provider_org'), ['provider_org'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_status'), ['status'], unique=False)

    op.create_table('related_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('related_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['related_id'], ['reports.id'], name=op.f('fk_related_reports_related_id_reports')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_related_reports_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_related_reports')),
    sa.UniqueConstraint('report_id', 'related_id', 'reason', name=op.f('uq_related_reports_report_id'))
    )
    with op.batch_alter_table('related_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_related_reports_related_id'), ['related_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_related_reports_report_id'), ['report_id'], unique=False)

    op.create_table('report_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('storage_key', sa.String(length=64), nullable=True),
    sa.Column('nonce', sa.LargeBinary(length=12), nullable=True),
    sa.Column('md5', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('pdq', sa.String(length=64), nullable=True),
    sa.Column('pdq_quality', sa.Integer(), nullable=True),
    sa.Column('hash_error', sa.Text(), nullable=True),
    sa.Column('annotations', sa.Text(), nullable=True),
    sa.Column('industry_classification', sa.String(length=8), nullable=True),
    sa.Column('viewed_by_provider', sa.Boolean(), nullable=True),
    sa.Column('publicly_available', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_files_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_files'))
    )
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_files_md5'), ['md5'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_files_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_files_sha256'), ['sha256'], unique=False)

    op.create_table('report_questions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('asked_by_org', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by_org', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by_org'], ['organisations.id'], name=op.f('fk_report_questions_answered_by_org_organisations')),
    sa.ForeignKeyConstraint(['asked_by_org'], ['organisations.id'], name=op.f('fk_report_questions_asked_by_org_organisations')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_questions_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_questions'))
    )
    with op.batch_alter_table('report_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_questions_report_id'), ['report_id'], unique=False)

    op.create_table('report_routings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recipient', sa.String(length=16), nullable=False),
    sa.Column('handed_off_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback', sa.Text(), nullable=True),
    sa.Column('delay_user_notice_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_routings_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_routings')),
    sa.UniqueConstraint('report_id', 'recipient', name=op.f('uq_report_routings_report_id'))
    )
    with op.batch_alter_table('report_routings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_routings_recipient'), ['recipient'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_routings_report_id'), ['report_id'], unique=False)

    op.create_table('report_subjects',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_subjects_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_subjects'))
    )
    with op.batch_alter_table('report_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_subjects_digest'), ['digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_subjects_report_id'), ['report_id'], unique=False)

    op.create_table('report_hashes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_type', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('file_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('matched_indicator', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['report_files.id'], name=op.f('fk_report_hashes_file_id_report_files')),
    sa.ForeignKeyConstraint(['matched_indicator'], ['indicators.id'], name=op.f('fk_report_hashes_matched_indicator_indicators')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_hashes_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_hashes'))
    )
    with op.batch_alter_table('report_hashes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_hashes_report_id'), ['report_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('report_hashes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_hashes_report_id'))

    op.drop_table('report_hashes')
    with op.batch_alter_table('report_subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_subjects_report_id'))
        batch_op.drop_index(batch_op.f('ix_report_subjects_digest'))

    op.drop_table('report_subjects')
    with op.batch_alter_table('report_routings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_routings_report_id'))
        batch_op.drop_index(batch_op.f('ix_report_routings_recipient'))

    op.drop_table('report_routings')
    with op.batch_alter_table('report_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_questions_report_id'))

    op.drop_table('report_questions')
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_files_sha256'))
        batch_op.drop_index(batch_op.f('ix_report_files_report_id'))
        batch_op.drop_index(batch_op.f('ix_report_files_md5'))

    op.drop_table('report_files')
    with op.batch_alter_table('related_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_related_reports_report_id'))
        batch_op.drop_index(batch_op.f('ix_related_reports_related_id'))

    op.drop_table('related_reports')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_status'))
        batch_op.drop_index(batch_op.f('ix_reports_provider_org'))
        batch_op.drop_index(batch_op.f('ix_reports_priority'))

    op.drop_table('reports')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_status'))

    op.drop_table('jobs')

