"""Every read of referrals, and who may read what — decided here only: the Centre every
referral; a hotline those made from its own URL reports; a partner that refers to us its own
inbound referrals (by its key's organisation); nobody else any. The API (list, one, the URL
report's embedded referral) and the workspace's takedown page all read through here."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, select, true
from sqlalchemy.orm import Session

from vigil.errors import NotFound
from vigil.jobs.models import Job
from vigil.orgs.access import OrgKind, Principal
from vigil.takedown.models import UrlReport
from vigil.takedown.referrals.models import InboundReferral, Referral


def readable_referrals(principal: Principal) -> ColumnElement[bool]:
    """The Centre reads every referral; a hotline those made from its own URL reports (the
    report the referral names), as it reads notices; anyone else none.

    Not "of a URL it reported": a hotline that reported a URL after the Centre classified
    someone else's report of it would read the Centre's decision on that report (its status,
    hosting country, reason) by merely reporting the URL. A hotline's report settled by the
    Centre's decision on another report of the same URL shows its classification, not that
    other report's referral."""
    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind is OrgKind.HOTLINE:
        return exists().where(UrlReport.id == Referral.url_report_id,
                              UrlReport.reporter_org == principal.organisation_id)
    return false()


def referrals(session: Session, principal: Principal, status: str | None = None,
              limit: int = 100) -> list[Referral]:
    """Newest first."""
    q = select(Referral).where(readable_referrals(principal)).order_by(Referral.id.desc()).limit(limit)
    if status:
        q = q.where(Referral.status == status)
    return list(session.scalars(q))


def referral(session: Session, principal: Principal, public_id: str) -> Referral:
    r = session.scalar(select(Referral).where(Referral.public_id == public_id,
                                              readable_referrals(principal)))
    if r is None:
        raise NotFound(f"no referral {public_id}")
    return r


def of_urls(session: Session, principal: Principal, urls: list[str]) -> dict[str, Referral]:
    """The latest readable referral of each URL (URL reports show it)."""
    found: dict[str, Referral] = {}
    if not urls:
        return found
    for r in session.scalars(select(Referral).where(Referral.url.in_(set(urls)),
                                                    readable_referrals(principal))
                             .order_by(Referral.id)):
        found[r.url] = r  # a later one replaces an earlier one
    return found


def delivery_jobs(session: Session, referrals: list[Referral]) -> dict[int, Job]:
    """The delivery jobs of pending referrals, by job id: their attempts, last error and next
    attempt are how delivery goes."""
    ids = [r.job_id for r in referrals if r.job_id is not None and r.status == "pending"]
    if not ids:
        return {}
    return {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(ids)))}


def inbound(session: Session, principal: Principal, public_id: str) -> InboundReferral:
    """A referral the caller's organisation sent us; NotFound for any other (whoever sent it)."""
    row = session.scalar(select(InboundReferral).where(
        InboundReferral.public_id == public_id,
        InboundReferral.from_org == principal.organisation_id))
    if row is None:
        raise NotFound(f"no referral {public_id} from your organisation")
    return row


def inbound_by_reference(session: Session, principal: Principal,
                         reference: str) -> InboundReferral | None:
    return session.scalar(select(InboundReferral).where(
        InboundReferral.from_org == principal.organisation_id,
        InboundReferral.reference == reference))
