"""lists carry a trust level instead of a kind; files are typed; URL reports keep their list's
trust

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 23:10:00

``hash_lists.kind`` (block/allow) becomes ``hash_lists.trust`` (verified/unverified/allow):
allow lists stay allow; the list victims' hashes go to (``victim-submitted``) becomes
unverified; every other block list is verified (its entries needed two organisations). The
same rule names the trust of lists created before this revision when ``vigil audit verify``
replays an older log (``vigil.indicators.log_audit``).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hash_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trust', sa.String(length=16), nullable=True))
    op.execute("UPDATE hash_lists SET trust = CASE WHEN kind = 'allow' THEN 'allow' "
               "WHEN name = 'victim-submitted' THEN 'unverified' ELSE 'verified' END")
    with op.batch_alter_table('hash_lists', schema=None) as batch_op:
        batch_op.alter_column('trust', existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column('kind')

    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), nullable=True))
    # Files stored before were hashed as images only: those with a PDQ hash were images.
    op.execute("UPDATE report_files SET kind = 'image' WHERE pdq IS NOT NULL")

    with op.batch_alter_table('url_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_trust', sa.String(length=16), nullable=True))
    op.execute("UPDATE url_reports SET list_trust = (SELECT trust FROM hash_lists "
               "WHERE hash_lists.name = url_reports.list_name) WHERE list_name IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('url_reports', schema=None) as batch_op:
        batch_op.drop_column('list_trust')
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.drop_column('kind')
    with op.batch_alter_table('hash_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=True))
    op.execute("UPDATE hash_lists SET kind = CASE WHEN trust = 'allow' THEN 'allow' "
               "ELSE 'block' END")
    with op.batch_alter_table('hash_lists', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column('trust')
