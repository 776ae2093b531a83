"""api keys: a series:link key another organisation issued waits for a second party

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 22:00:00

Since decision 0035, ``series:link`` is a vouched scope (``vigil.orgs.access.VOUCHED_SCOPES``):
a key with it that another organisation (the Centre) issued works without it until a second
party confirms the key. Keys issued before were approved at issue when they held no other
vouched scope; this puts those back to waiting — the ones another organisation issued, that no
second party approved and that are not revoked — so that a series key the Centre issued and
may have kept stops answering series queries until a partner centre or an auditor confirms it
(``POST /v1/keys/{id}/approve``). Their other scopes keep working. Keys the operator issued on
the server (``issued_by_org`` empty) and keys an organisation issued to itself are untouched.
``vigil key list`` shows them as not approved. Downgrading does not approve them again.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

keys = sa.table('api_keys', sa.column('id', sa.Integer), sa.column('organisation_id', sa.Integer),
                sa.column('scopes', sa.String), sa.column('revoked_at', sa.DateTime),
                sa.column('issued_by_org', sa.Integer), sa.column('approved_at', sa.DateTime),
                sa.column('approved_by_org', sa.Integer))


def upgrade() -> None:
    conn = op.get_bind()
    ids = [row.id for row in conn.execute(
        sa.select(keys.c.id, keys.c.scopes).where(
            keys.c.issued_by_org.isnot(None), keys.c.issued_by_org != keys.c.organisation_id,
            keys.c.approved_by_org.is_(None), keys.c.approved_at.isnot(None),
            keys.c.revoked_at.is_(None)))
        if 'series:link' in str(row.scopes).split()]
    if ids:
        conn.execute(sa.update(keys).where(keys.c.id.in_(ids)).values(approved_at=None))


def downgrade() -> None:
    pass
