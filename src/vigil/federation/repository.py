"""Reads of partner centres and their quarantined records. Partners are the Centre's own
configuration: only keys that manage organisations (``orgs:manage``) read them, through the
endpoints; the worker reads them to pull."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.errors import NotFound
from vigil.federation.models import Partner, PartnerIndicator, QuarantinedRecord


def partners(session: Session, *, removed: bool = False) -> list[Partner]:
    """The partners being pulled (with ``removed``, also those removed), by id."""
    q = select(Partner).order_by(Partner.id)
    if not removed:
        q = q.where(Partner.removed_at.is_(None))
    return list(session.scalars(q))


def partner(session: Session, partner_id: int, *, lock: bool = False) -> Partner:
    """A partner by id; ``lock``: held for the rest of the transaction (a pull applying a page,
    so that a second pull at the same moment — the CLI beside the worker — waits, then sees the
    new position and applies nothing twice)."""
    p = session.get(Partner, partner_id, with_for_update=lock, populate_existing=lock)
    if p is None:
        raise NotFound(f"no partner {partner_id}")
    return p


def active_partner_named(session: Session, name: str) -> Partner | None:
    return session.scalar(select(Partner).where(Partner.name == name,
                                                Partner.removed_at.is_(None)))


def partner_named(session: Session, name: str) -> Partner:
    """The registered (not removed) partner of that name; NotFound naming it."""
    p = active_partner_named(session, name)
    if p is None:
        raise NotFound(f"no partner centre named {name!r}")
    return p


def quarantined(session: Session, partner_id: int | None = None, limit: int = 100,
                after: int = 0) -> list[QuarantinedRecord]:
    """Quarantined records, newest last, after id ``after``."""
    q = select(QuarantinedRecord).where(QuarantinedRecord.id > after)
    if partner_id is not None:
        q = q.where(QuarantinedRecord.partner_id == partner_id)
    return list(session.scalars(q.order_by(QuarantinedRecord.id).limit(limit)))


def quarantine_counts(session: Session) -> dict[int, int]:
    """How many records of each partner are in quarantine, by partner id."""
    rows = session.execute(select(QuarantinedRecord.partner_id, func.count())
                           .group_by(QuarantinedRecord.partner_id))
    return {int(pid): int(n) for pid, n in rows}


def imported_counts(session: Session) -> dict[int, int]:
    """How many indicators each partner brought, by partner id."""
    rows = session.execute(select(PartnerIndicator.partner_id, func.count())
                           .group_by(PartnerIndicator.partner_id))
    return {int(pid): int(n) for pid, n in rows}


def provenance(session: Session, indicator_id: int) -> PartnerIndicator | None:
    """Where an imported indicator came from (None: not imported)."""
    return session.scalar(select(PartnerIndicator)
                          .where(PartnerIndicator.indicator_id == indicator_id))
