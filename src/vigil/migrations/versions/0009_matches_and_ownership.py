"""every hit of a report, a case's hashes dated, file references, crawl owners

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 01:30:00

* ``report_matches``: every indicator a report matched (with its list's trust), filled from
  ``report_hashes.matched_indicator`` for reports assessed before;
* ``victim_case_hashes.added_at``: a case is told only what happened after it added a hash
  (earlier rows: the case's creation);
* ``report_hashes.file_ref``: the provider's reference grouping given hashes of one file;
* ``crawls.created_by_org``: who started a crawl (earlier crawls: unknown, readable by the
  Centre only);
* ``indicator_hits.indicator_id`` becomes a big integer, as indicator ids are (0006 made it a
  32-bit one on PostgreSQL; a test now compares the migrated schema with the models).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('report_matches',
    sa.Column('id', _ID, nullable=False),
    sa.Column('report_id', _ID, nullable=False),
    sa.Column('indicator_id', _ID, nullable=False),
    sa.Column('trust', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_matches_report_id_reports')),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_report_matches_indicator_id_indicators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_matches')),
    sa.UniqueConstraint('report_id', 'indicator_id', name=op.f('uq_report_matches_report_id'))
    )
    with op.batch_alter_table('report_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_matches_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_matches_indicator_id'), ['indicator_id'], unique=False)
    op.execute("INSERT INTO report_matches (report_id, indicator_id, trust) "
               "SELECT DISTINCT h.report_id, h.matched_indicator, l.trust FROM report_hashes h "
               "JOIN indicators i ON i.id = h.matched_indicator "
               "JOIN hash_lists l ON l.id = i.list_id")

    with op.batch_alter_table('victim_case_hashes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('added_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE victim_case_hashes SET added_at = (SELECT created_at FROM victim_cases "
               "WHERE victim_cases.id = victim_case_hashes.case_id)")
    with op.batch_alter_table('victim_case_hashes', schema=None) as batch_op:
        batch_op.alter_column('added_at', existing_type=sa.DateTime(timezone=True), nullable=False)

    with op.batch_alter_table('report_hashes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_ref', sa.String(length=200), nullable=True))

    with op.batch_alter_table('crawls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_org', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_crawls_created_by_org_organisations'),
                                    'organisations', ['created_by_org'], ['id'])

    if op.get_bind().dialect.name == "postgresql":
        op.alter_column('indicator_hits', 'indicator_id', type_=sa.BigInteger(),
                        existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('crawls', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crawls_created_by_org_organisations'), type_='foreignkey')
        batch_op.drop_column('created_by_org')
    with op.batch_alter_table('report_hashes', schema=None) as batch_op:
        batch_op.drop_column('file_ref')
    with op.batch_alter_table('victim_case_hashes', schema=None) as batch_op:
        batch_op.drop_column('added_at')
    op.drop_table('report_matches')
