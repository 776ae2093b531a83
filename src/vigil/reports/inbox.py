"""An authority's (or Europol's) side of a forwarded report: its inbox, acknowledgement, and
feedback with an optional request to delay the user's notification (CSA proposal Art. 15).
Every query goes through :func:`vigil.orgs.access.visible_reports`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Invalid, NotFound
from vigil.orgs.access import Principal, Scope, routing_recipient
from vigil.reports.models import Report, Routing
from vigil.reports.service import get_visible, visible

#: The longest delay of the user's notification an authority may ask for (18 months).
MAX_DELAY_DAYS = 548


def routing_of(session: Session, actor: Principal, report: Report) -> Routing:
    recipient = routing_recipient(actor)
    routing: Routing | None = session.scalar(select(Routing).where(
        Routing.report_id == report.id, Routing.recipient == recipient))
    if routing is None:
        raise NotFound("no such report")
    return routing


def inbox(session: Session, actor: Principal, limit: int = 100) -> list[tuple[Report, Routing]]:
    """Reports routed to the caller, most urgent first, then oldest first."""
    actor.require(Scope.REPORTS_RECEIVE)
    recipient = routing_recipient(actor)
    reports = list(session.scalars(visible(actor).order_by(
        Report.priority.desc(), Report.submitted_at).limit(min(limit, 1000))))
    routings = {r.report_id: r for r in session.scalars(select(Routing).where(
        Routing.recipient == recipient, Routing.report_id.in_([r.id for r in reports])))}
    return [(r, routings[r.id]) for r in reports if r.id in routings]


def acknowledge(session: Session, actor: Principal, public_id: str) -> Routing:
    actor.require(Scope.REPORTS_RECEIVE)
    report = get_visible(session, actor, public_id)
    routing = routing_of(session, actor, report)
    routing.acknowledged_at = routing.acknowledged_at or now()
    record(session, actor, AuditAction.REPORT_ACKNOWLEDGED, subject=report.public_id)
    return routing


def give_feedback(session: Session, actor: Principal, public_id: str, outcome: str,
                  delay_user_notice_days: int | None = None) -> Routing:
    actor.require(Scope.REPORTS_RECEIVE)
    if not outcome.strip():
        raise Invalid("the feedback is empty")
    if delay_user_notice_days is not None and not 1 <= delay_user_notice_days <= MAX_DELAY_DAYS:
        raise Invalid(f"a delay of the user's notification is 1 to {MAX_DELAY_DAYS} days")
    report = get_visible(session, actor, public_id)
    routing = routing_of(session, actor, report)
    routing.feedback = outcome.strip()
    if delay_user_notice_days:
        routing.delay_user_notice_until = now() + timedelta(days=delay_user_notice_days)
    record(session, actor, AuditAction.REPORT_FEEDBACK, subject=report.public_id,
           details={"delay_days": delay_user_notice_days})
    return routing
