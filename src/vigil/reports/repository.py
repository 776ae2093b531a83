"""Every read of reports goes through here, and what a principal may read is decided here only:
:func:`readable` (see a report), :func:`own` (act as its provider), :func:`routing_for` (act as
an authority it was routed to). Endpoints and pages never select the reports tables themselves
(a test checks their imports).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, false, func, select, true
from sqlalchemy.orm import Session

from vigil.errors import NotFound
from vigil.orgs.access import OrgKind, Principal, routing_recipient
from vigil.reports.lifecycle import Assessment, ReportStatus
from vigil.reports.models import Question, RelatedReport, Report, ReportFile, ReportHash, Routing

#: Assessments that a Centre reviewer must look at.
REVIEW_ASSESSMENTS = (Assessment.NEW_MATERIAL, Assessment.SOLICITATION,
                      Assessment.UNVERIFIED_MATCH)


def readable(principal: Principal) -> ColumnElement[bool]:
    """Which reports this caller may see: a provider (or hotline) its own; an authority those
    routed to its member state; Europol those routed to Europol; the Centre all; anyone else
    none."""
    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind in (OrgKind.PROVIDER, OrgKind.HOTLINE):
        return own(principal)
    recipient = routing_recipient(principal)
    if recipient is None:
        return false()
    return exists().where(Routing.report_id == Report.id, Routing.recipient == recipient)


def own(principal: Principal) -> ColumnElement[bool]:
    """Reports this caller filed: the provider-side actions (add files, finish, retract, answer
    questions) act only on these — the Centre sees every report, but never acts as their
    provider."""
    return Report.provider_org == principal.organisation_id


def visible(principal: Principal) -> Select[Report]:
    return select(Report).where(readable(principal))


def get_readable(session: Session, principal: Principal, public_id: str, *,
                 for_update: bool = False) -> Report:
    """A report the caller may read (locked for the rest of the transaction if
    ``for_update``: a decision and a retraction racing each other take turns)."""
    q = visible(principal).where(Report.public_id == public_id)
    if for_update:
        q = q.with_for_update()
    report = session.scalar(q)
    if report is None:  # not found, or not yours: the same answer
        raise NotFound(f"no report {public_id}")
    return report


def get_own(session: Session, principal: Principal, public_id: str, *,
            for_update: bool = False) -> Report:
    """A report the caller filed (locked for the rest of the transaction if ``for_update``)."""
    q = select(Report).where(own(principal), Report.public_id == public_id)
    if for_update:
        q = q.with_for_update()
    report = session.scalar(q)
    if report is None:
        raise NotFound(f"no report {public_id}")
    return report


def own_reports(session: Session, principal: Principal, status: str | None = None,
                limit: int = 100) -> list[Report]:
    """The caller's own reports, newest first."""
    q = select(Report).where(own(principal)).order_by(Report.id.desc()).limit(max(1, min(limit, 1000)))
    if status:
        q = q.where(Report.status == status)
    return list(session.scalars(q))


def routing_for(session: Session, principal: Principal, report: Report) -> Routing:
    """The routing of ``report`` to the caller (an authority or Europol). Anyone else — the
    Centre included, which reads every report but receives none — gets "no such report"."""
    recipient = routing_recipient(principal)
    routing = None if recipient is None else session.scalar(select(Routing).where(
        Routing.report_id == report.id, Routing.recipient == recipient))
    if routing is None:
        raise NotFound(f"no report {report.public_id}")
    return routing


def routed_to(session: Session, principal: Principal, limit: int = 100) -> list[tuple[Report, Routing]]:
    """Reports routed to the caller (what :func:`readable` grants an authority), most urgent
    first, then oldest first."""
    recipient = routing_recipient(principal)
    if recipient is None:
        return []
    rows = session.execute(
        select(Report, Routing).join(Routing, Routing.report_id == Report.id)
        .where(Routing.recipient == recipient)
        .order_by(Report.priority.desc(), Report.submitted_at).limit(min(limit, 1000))).all()
    return [(r, routing) for r, routing in rows]


def hold_user_notice_until(session: Session, report: Report) -> datetime | None:
    """The latest date until which an authority asked the provider not to tell its user."""
    return session.scalar(select(func.max(Routing.delay_user_notice_until))
                          .where(Routing.report_id == report.id))


def files(session: Session, report: Report) -> list[ReportFile]:
    return list(session.scalars(select(ReportFile).where(ReportFile.report_id == report.id)
                                .order_by(ReportFile.id)))


def file_of(session: Session, report: Report, file_id: int) -> ReportFile:
    f = session.get(ReportFile, file_id)
    if f is None or f.report_id != report.id:
        raise NotFound("no such file")
    return f


def file_counts(session: Session, report_ids: list[int]) -> dict[int, int]:
    if not report_ids:
        return {}
    return {rid: n for rid, n in session.execute(
        select(ReportFile.report_id, func.count()).where(ReportFile.report_id.in_(report_ids))
        .group_by(ReportFile.report_id)).all()}


def hashes(session: Session, report: Report) -> list[ReportHash]:
    return list(session.scalars(select(ReportHash).where(ReportHash.report_id == report.id)
                                .order_by(ReportHash.id)))


def counts(session: Session, report: Report) -> tuple[int, int]:
    """(files, hashes) of a report."""
    n_files = session.scalar(select(func.count()).where(ReportFile.report_id == report.id)) or 0
    n_hashes = session.scalar(select(func.count()).where(ReportHash.report_id == report.id)) or 0
    return n_files, n_hashes


def related_readable(session: Session, principal: Principal, report: Report) -> list[tuple[str, str]]:
    """(public id, reason) of the reports linked to this one that the caller may read too."""
    return [(pid, reason) for pid, reason in session.execute(
        select(Report.public_id, RelatedReport.reason)
        .join(RelatedReport, RelatedReport.related_id == Report.id)
        .where(RelatedReport.report_id == report.id, readable(principal))
        .order_by(Report.id)).all()]


def questions(session: Session, report: Report) -> list[Question]:
    return list(session.scalars(select(Question).where(Question.report_id == report.id)
                                .order_by(Question.id)))


def in_review_queue() -> ColumnElement[bool]:
    """Reports waiting for a Centre reviewer: new material, solicitation or unverified matches
    not yet decided (or waiting for the provider's answer), and not retracted."""
    return (Report.assessment.in_(REVIEW_ASSESSMENTS)
            & (Report.review_decision.is_(None) | (Report.review_decision == "needs_information"))
            & (Report.status != ReportStatus.RETRACTED))


def review_queue(session: Session, limit: int = 100) -> list[Report]:
    """Urgent first (then the priority the assessment gave), then oldest first."""
    return list(session.scalars(select(Report).where(in_review_queue())
                                .order_by(Report.priority.desc(), Report.submitted_at)
                                .limit(limit)))


def queue_figures(session: Session) -> dict[str, Any]:
    """Aggregates for the dashboard, never a report's content: the review queue's size, how
    many are urgent, the oldest and every waiting report's age; reports by status."""
    waiting, urgent, oldest = session.execute(select(
        func.count(), func.sum(case((Report.urgent, 1), else_=0)),
        func.min(Report.submitted_at)).where(in_review_queue())).one()
    ages = [r for (r,) in session.execute(select(Report.submitted_at).where(in_review_queue()))]
    by_status = session.execute(select(Report.status, func.count()).group_by(Report.status)
                                .order_by(Report.status)).all()
    return {"waiting": waiting, "urgent": urgent or 0, "oldest": oldest, "ages": ages,
            "by_status": [(s, n) for s, n in by_status]}
