"""Every read of URL reports and notices goes through here, and what a principal may read is
decided here only (:func:`readable_url_reports`, :func:`readable_notices`). Endpoints and pages
never select these tables themselves (a test checks their imports).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, select, true
from sqlalchemy.orm import Session

from vigil.errors import NotFound
from vigil.jobs.models import Job
from vigil.orgs.access import OrgKind, Principal
from vigil.takedown.models import Crawl, CrawlUrl, Notice, NoticeEvent, UrlReport


def readable_url_reports(principal: Principal) -> ColumnElement[bool]:
    """Which reported URLs this caller may see and classify: the Centre all (the public's
    reports come to it); a hotline those it reported; anyone else none."""
    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind is OrgKind.HOTLINE:
        return UrlReport.reporter_org == principal.organisation_id
    return false()


def readable_notices(principal: Principal) -> ColumnElement[bool]:
    """Which takedown notices this caller may see: the Centre all; a hotline those of the URL
    reports it made; an authority those passed to its member state (the hosting country) — at
    classification, for victim identification, or on escalation; anyone else none."""
    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind is OrgKind.HOTLINE:
        return exists().where(UrlReport.id == Notice.url_report_id,
                              UrlReport.reporter_org == principal.organisation_id)
    if principal.kind is OrgKind.AUTHORITY and principal.member_state:
        return (Notice.hosting_country == principal.member_state) & (
            Notice.escalated_at.is_not(None) | Notice.authority_informed_at.is_not(None))
    return false()


def url_report(session: Session, principal: Principal, public_id: str) -> UrlReport:
    report = session.scalar(select(UrlReport).where(UrlReport.public_id == public_id,
                                                    readable_url_reports(principal)))
    if report is None:
        raise NotFound(f"no URL report {public_id}")
    return report


def waiting_of_url(session: Session, principal: Principal, report: UrlReport) -> list[UrlReport]:
    """The other reports of ``report``'s URL still waiting for a classification that this
    caller may decide: the Centre every one; a hotline only its own (its decision never
    settles the public's, a provider's or the crawler's reports)."""
    return list(session.scalars(select(UrlReport).where(
        UrlReport.url == report.url, UrlReport.classification.is_(None),
        UrlReport.id != report.id, readable_url_reports(principal))))


def url_reports(session: Session, principal: Principal, classified: bool | None = None,
                limit: int = 100) -> list[UrlReport]:
    """Oldest first; ``classified`` False: only those waiting for an analyst."""
    q = select(UrlReport).where(readable_url_reports(principal)).order_by(UrlReport.created_at).limit(limit)
    if classified is not None:
        q = q.where(UrlReport.classification.is_not(None) if classified
                    else UrlReport.classification.is_(None))
    return list(session.scalars(q))


def notices(session: Session, principal: Principal, status: str | None = None,
            limit: int = 100) -> list[Notice]:
    """Newest first."""
    q = select(Notice).where(readable_notices(principal)).order_by(Notice.id.desc()).limit(limit)
    if status:
        q = q.where(Notice.status == status)
    return list(session.scalars(q))


def notice(session: Session, principal: Principal, notice_id: int) -> Notice:
    n = session.scalar(select(Notice).where(Notice.id == notice_id, readable_notices(principal)))
    if n is None:
        raise NotFound(f"no notice {notice_id}")
    return n


def readable_notice(session: Session, principal: Principal, notice: Notice | None) -> Notice | None:
    """``notice`` when this caller may read it (:func:`readable_notices`), else None. What a
    classification answers: the notice it opened, or the URL's notice already open — which a
    hotline reads only when it was opened from its own report (not the Centre's progress on
    someone else's report of the same URL)."""
    if notice is None:
        return None
    return session.scalar(select(Notice).where(Notice.id == notice.id, readable_notices(principal)))


def notice_events(session: Session, notice_id: int) -> list[NoticeEvent]:
    return list(session.scalars(select(NoticeEvent).where(NoticeEvent.notice_id == notice_id)
                                .order_by(NoticeEvent.id)))


def authority_job(session: Session, notice: Notice) -> Job | None:
    """The job that passes ``notice`` to its authority at classification (its attempts and
    last error say how it goes), while the authority is not yet informed."""
    if notice.authority_job_id is None or notice.authority_informed_at is not None:
        return None
    return session.get(Job, notice.authority_job_id)


#: Events of a notice's delivery: what each run of the notice sent, or failed to send.
DELIVERY_EVENTS = ("sent_email", "sent_webhook", "send_failed")


def failed_deliveries(session: Session, notice_ids: list[int]) -> dict[int, list[NoticeEvent]]:
    """For each notice whose latest delivery run had a failure: that run's failures (the
    channel and the error), which the next run retries."""
    latest: dict[int, list[NoticeEvent]] = {}
    for e in session.scalars(select(NoticeEvent).where(
            NoticeEvent.notice_id.in_(notice_ids), NoticeEvent.kind.in_(DELIVERY_EVENTS))
            .order_by(NoticeEvent.id)):
        run = latest.get(e.notice_id)
        if run is None or run[0].at != e.at:
            latest[e.notice_id] = [e]  # a later run replaces an earlier one
        else:
            run.append(e)
    return {n: [e for e in run if e.kind == "send_failed"] for n, run in latest.items()
            if any(e.kind == "send_failed" for e in run)}


def crawler_report(session: Session, url: str) -> UrlReport | None:
    """The crawler's own URL report for ``url``, if it made one before."""
    return session.scalar(select(UrlReport).where(UrlReport.url == url,
                                                  UrlReport.source == "crawler"))


def readable_crawls(principal: Principal) -> ColumnElement[bool]:
    """The Centre reads every crawl; an organisation those it started."""
    if principal.kind is OrgKind.CENTRE:
        return true()
    return Crawl.created_by_org == principal.organisation_id


def crawl_status(session: Session, principal: Principal, crawl_id: int) -> dict[str, Any]:
    """A crawl's progress: URLs by kind and state, and how many media matched."""
    crawl = session.scalar(select(Crawl).where(Crawl.id == crawl_id, readable_crawls(principal)))
    if crawl is None:
        raise NotFound(f"no crawl {crawl_id}")
    counts = session.execute(select(CrawlUrl.kind, CrawlUrl.state, func.count())
                             .where(CrawlUrl.crawl_id == crawl_id)
                             .group_by(CrawlUrl.kind, CrawlUrl.state)).all()
    matched = session.scalar(select(func.count()).where(CrawlUrl.crawl_id == crawl_id,
                                                        CrawlUrl.matched.is_(True)))
    return {"id": crawl.id, "status": crawl.status, "seeds": json.loads(crawl.seeds),
            "allowed_domains": json.loads(crawl.allowed_domains),
            "urls": {f"{k}:{st}": n for k, st, n in counts}, "matched": matched or 0,
            "created_at": crawl.created_at, "finished_at": crawl.finished_at}
