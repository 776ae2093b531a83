"""Human review of new material, and questions to the provider.

A reviewer at the Centre decides on a report assessed as new material (or solicitation):
*material* — its hashes become pending indicators, which another organisation must verify;
*not material*; or *needs information* — a question goes to the provider, who answers it.
Authorities can ask questions about the reports routed to them in the same way.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotFound
from vigil.indicators import service as indicators
from vigil.orgs.access import Principal, Scope
from vigil.reports.models import Question, Report, ReportHash
from vigil.reports.service import get_own, get_visible

DECISIONS = ("material", "not_material", "needs_information")
#: Assessments that a person must review.
REVIEW_ASSESSMENTS = ("new_material", "solicitation")


def in_queue() -> ColumnElement[bool]:
    """Reports waiting for a reviewer: new material not yet decided (or waiting for the
    provider's answer), and not retracted."""
    return (Report.assessment.in_(REVIEW_ASSESSMENTS)
            & (Report.review_decision.is_(None) | (Report.review_decision == "needs_information"))
            & (Report.status != "retracted"))


def queue(session: Session, actor: Principal, limit: int = 100) -> list[Report]:
    """New material awaiting a decision: urgent first, then oldest first."""
    actor.require(Scope.REPORTS_REVIEW)
    return list(session.scalars(
        select(Report).where(in_queue()).order_by(Report.priority.desc(), Report.submitted_at).limit(limit)))


def decide(session: Session, actor: Principal, public_id: str, decision: str, reason: str,
           list_name: str = "known-material", label: str | None = None) -> tuple[Report, list[int]]:
    actor.require(Scope.REPORTS_REVIEW)
    if decision not in DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(DECISIONS)}")
    if not reason.strip():
        raise Invalid("a reason is required")
    report = get_visible(session, actor, public_id)
    if report.status == "retracted":
        raise Conflict(f"report {public_id} was retracted by its provider")
    if report.assessment not in REVIEW_ASSESSMENTS:
        raise Conflict(f"report {public_id} is {report.assessment or report.status}; only new "
                       "material is reviewed")
    if report.review_decision in ("material", "not_material"):
        raise Conflict(f"report {public_id} was already decided: {report.review_decision}")
    created: list[int] = []
    if decision == "material":
        hashes = session.scalars(select(ReportHash).where(
            ReportHash.report_id == report.id, ReportHash.signal_type.in_(["pdq", "md5", "sha256"])))
        proposals = [indicators.Proposal(h.signal_type, h.value, list_name,
                                         f"review of report {public_id}", label,
                                         f"report:{public_id}") for h in hashes]
        if not proposals:
            raise Conflict("the report has no hashes to propose as indicators")
        created = [i.id for i in indicators.propose(session, actor, proposals)]
    if decision == "needs_information":
        ask(session, actor, report, reason)
    report.review_decision, report.review_reason = decision, reason.strip()
    report.reviewed_by_org, report.reviewed_at = actor.organisation_id, now()
    record(session, actor, AuditAction.REPORT_REVIEWED, subject=public_id,
           details={"decision": decision, "indicators": len(created)})
    return report, created


def ask(session: Session, actor: Principal, report: Report, question: str) -> Question:
    if not question.strip():
        raise Invalid("the question is empty")
    q = Question(report_id=report.id, asked_by_org=actor.organisation_id,
                 question=question.strip(), asked_at=now())
    session.add(q)
    session.flush()
    record(session, actor, AuditAction.REPORT_QUESTION_ASKED, subject=report.public_id,
           details={"question": q.id})
    return q


def questions(session: Session, actor: Principal, public_id: str) -> list[Question]:
    """Questions on a report the caller may see (its provider, its authorities, the Centre)."""
    report = get_visible(session, actor, public_id)
    return list(session.scalars(select(Question).where(Question.report_id == report.id)
                                .order_by(Question.id)))


def answer(session: Session, actor: Principal, public_id: str, question_id: int,
           text: str) -> Question:
    actor.require(Scope.REPORTS_SUBMIT)
    report = get_own(session, actor, public_id)
    q = session.get(Question, question_id)
    if q is None or q.report_id != report.id:
        raise NotFound(f"no question {question_id} on report {public_id}")
    if q.answer is not None:
        raise Conflict("this question was answered already")
    if not text.strip():
        raise Invalid("the answer is empty")
    q.answer, q.answered_at, q.answered_by_org = text.strip(), now(), actor.organisation_id
    record(session, actor, AuditAction.REPORT_QUESTION_ANSWERED, subject=public_id,
           details={"question": q.id})
    return q
