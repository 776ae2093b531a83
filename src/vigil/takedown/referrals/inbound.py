"""The receiving side: a partner hotline (another vigil) refers a URL to us with its key (scope
``referrals:submit``). It becomes a URL report here (``source`` ``referral``, waiting for our
analyst like any other), and the partner reads how it goes — ``received``, ``assessed`` (our
analyst confirmed it and our notice to the host is out), ``removed``, ``declined`` (not illegal
here), ``closed`` — derived from our own URL report and notice, so there is nothing to keep in
step. The same referral sent again (same partner, same reference) is the one already here."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Invalid
from vigil.orgs.access import Principal, Scope
from vigil.takedown.models import Notice, UrlReport
from vigil.takedown.referrals import repository
from vigil.takedown.referrals.models import InboundReferral
from vigil.takedown.service import ILLEGAL, submit_url

_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class InboundIn:
    """A referral as a partner sends it (see :class:`~.partners.ReferralMessage`)."""

    reference: str
    url: str
    classification: str
    classification_country: str | None = None
    hosting_country: str | None = None


@dataclass(frozen=True)
class InboundStatus:
    id: str
    reference: str
    status: str  # received | assessed | removed | declined | closed
    received_at: datetime
    changed_at: datetime | None


def _country(code: str | None, what: str) -> str | None:
    if code is None or code == "":
        return None
    if not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise Invalid(f"{what} must be a two-letter country code, not {code[:10]!r}")
    return code.upper()


def receive(session: Session, actor: Principal, body: InboundIn) -> tuple[InboundReferral, bool]:
    """Take a partner's referral: returns it and whether it is new. Raises Forbidden without
    ``referrals:submit``, Invalid naming the bad field (reference, URL, classification,
    country)."""
    actor.require(Scope.REFERRALS_SUBMIT)
    if not _REFERENCE.match(body.reference):
        raise Invalid("reference must be 1-64 letters, digits or . _ : -")
    if body.classification not in ILLEGAL:
        raise Invalid(f"only URLs classified illegal are referred ({', '.join(ILLEGAL)})")
    law = _country(body.classification_country, "classification_country")
    hosting = _country(body.hosting_country, "hosting_country")
    held = repository.inbound_by_reference(session, actor, body.reference)
    if held is not None:
        return held, False
    report, _ = submit_url(session, body.url, source="referral", reporter=actor,
                           description=f"Referred by {actor.organisation_name} as "
                                       f"{body.classification}"
                                       f"{' (' + law + ')' if law else ''}; their reference "
                                       f"{body.reference}")
    row = InboundReferral(public_id=str(uuid.uuid4()), url_report_id=report.id,
                          from_org=actor.organisation_id, reference=body.reference,
                          classification=body.classification, hosting_country=hosting,
                          received_at=now())
    session.add(row)
    session.flush()
    record(session, actor, AuditAction.REFERRAL_RECEIVED, subject=row.public_id,
           details={"url_report": report.public_id, "reference": body.reference})
    return row, True


def status(session: Session, row: InboundReferral) -> InboundStatus:
    """How a received referral goes, from our URL report and our notice for its URL."""
    report = session.get(UrlReport, row.url_report_id)
    assert report is not None
    changed: datetime | None = report.classified_at
    if report.classification is None:
        word = "received"
    elif report.classification not in ILLEGAL:
        word = "declined"
    else:
        notice = session.scalar(select(Notice).where(Notice.url == report.url)
                                .order_by(Notice.id.desc()).limit(1))
        word = "assessed"
        if notice is not None and notice.status == "removed":
            word, changed = "removed", notice.removed_at
        elif notice is not None and notice.status == "closed":
            word = "closed"
    return InboundStatus(row.public_id, row.reference, word, row.received_at, changed)


def status_of(session: Session, actor: Principal, public_id: str) -> InboundStatus:
    """The status of a referral the caller's organisation sent us; NotFound otherwise."""
    actor.require(Scope.REFERRALS_SUBMIT)
    return status(session, repository.inbound(session, actor, public_id))
