"""An authority's (or Europol's) side of a forwarded report: its inbox, the report and its
files, acknowledgement, questions, and feedback with an optional request to delay the user's
notification (CSA proposal Art. 15).

The API (``/v1/authority/...``) and the workspace (``/app/inbox``) call these functions and
nothing else, so a report is opened, a file downloaded and a question asked with the same
checks on both: the report must be routed to the caller (:func:`repository.routing_for`) — the
Centre reads every report, but receives none and downloads no original through this door —
and every read and download is audited in the same transaction.

A delay of the user's notification reaches the provider, who is the one that must hold its
notice back: in its view of the report (``hold_user_notice_until``) and by its webhook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Invalid, NotFound
from vigil.jobs.queue import enqueue
from vigil.orgs.access import Principal, Scope
from vigil.reports import repository, review
from vigil.reports.models import Question, Report, ReportFile, Routing
from vigil.reports.service import aad
from vigil.reports.storage import FileStore

#: The longest delay of the user's notification an authority may ask for (18 months).
MAX_DELAY_DAYS = 548

@dataclass
class RoutedReport:
    """A report as its authority sees it."""

    report: Report
    routing: Routing
    files: list[ReportFile]
    related: list[tuple[str, str]]
    questions: list[Question]
    details: dict[str, Any] | None


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _routed(session: Session, actor: Principal, public_id: str) -> tuple[Report, Routing]:
    actor.require(Scope.REPORTS_RECEIVE)
    report = repository.get_readable(session, actor, public_id)
    return report, repository.routing_for(session, actor, report)


def inbox(session: Session, actor: Principal, limit: int = 100) -> list[tuple[Report, Routing]]:
    """Reports routed to the caller, most urgent first, then oldest first (the listing is
    audited)."""
    actor.require(Scope.REPORTS_RECEIVE)
    rows = repository.routed_to(session, actor, limit)
    record(session, actor, AuditAction.REPORT_READ, details={"listed": len(rows)})
    return rows


def open_report(session: Session, actor: Principal, public_id: str) -> RoutedReport:
    """The report with its files' metadata, the related reports the caller may read too, and
    the questions; audited."""
    report, routing = _routed(session, actor, public_id)
    record(session, actor, AuditAction.REPORT_READ, subject=report.public_id)
    return RoutedReport(report, routing, repository.files(session, report),
                        repository.related_readable(session, actor, report),
                        repository.questions(session, report),
                        json.loads(report.details) if report.details else None)


def open_file(session: Session, actor: Principal, public_id: str, file_id: int,
              store: FileStore) -> tuple[ReportFile, bytes]:
    """The original of one file, decrypted; the download is audited."""
    report, _ = _routed(session, actor, public_id)
    f = repository.file_of(session, report, file_id)
    if f.storage_key is None or f.nonce is None:
        raise NotFound("no such file (or deleted at the end of its retention period)")
    data = store.get(f.storage_key, f.nonce, aad(report.public_id, f.id), f.key_id)
    record(session, actor, AuditAction.REPORT_FILE_DOWNLOADED, subject=report.public_id,
           details={"file": f.id})
    return f, data


def acknowledge(session: Session, actor: Principal, public_id: str) -> Routing:
    report, routing = _routed(session, actor, public_id)
    routing.acknowledged_at = routing.acknowledged_at or now()
    record(session, actor, AuditAction.REPORT_ACKNOWLEDGED, subject=report.public_id)
    return routing


def ask(session: Session, actor: Principal, public_id: str, question: str) -> Question:
    """A question to the provider about a report routed to the caller."""
    report, _ = _routed(session, actor, public_id)
    return review.ask(session, actor, report, question)


def questions(session: Session, actor: Principal, public_id: str) -> list[Question]:
    report, _ = _routed(session, actor, public_id)
    return repository.questions(session, report)


def give_feedback(session: Session, actor: Principal, public_id: str, outcome: str,
                  delay_user_notice_days: int | None = None) -> Routing:
    """The authority's feedback; with ``delay_user_notice_days`` (1 to 548) the provider is
    told, by its view of the report and by webhook, to hold back its notice to the user."""
    actor.require(Scope.REPORTS_RECEIVE)
    if not outcome.strip():
        raise Invalid("the feedback is empty")
    if delay_user_notice_days is not None and not 1 <= delay_user_notice_days <= MAX_DELAY_DAYS:
        raise Invalid(f"a delay of the user's notification is 1 to {MAX_DELAY_DAYS} days")
    report, routing = _routed(session, actor, public_id)
    routing.feedback = outcome.strip()
    record(session, actor, AuditAction.REPORT_FEEDBACK, subject=report.public_id,
           details={"delay_days": delay_user_notice_days})
    if delay_user_notice_days:
        # At most 18 months from the hand-off, however often it is asked again.
        latest = _aware(routing.handed_off_at) + timedelta(days=MAX_DELAY_DAYS)
        if now() >= latest:
            raise Invalid(f"the user's notification could be delayed until {latest.date()} at "
                          f"the latest ({MAX_DELAY_DAYS} days from the hand-off)")
        routing.delay_user_notice_until = min(now() + timedelta(days=delay_user_notice_days),
                                              latest)
        session.flush()
        hold = repository.hold_user_notice_until(session, report)
        assert hold is not None
        record(session, actor, AuditAction.REPORT_USER_NOTICE_DELAYED, subject=report.public_id,
               details={"until": _aware(hold).isoformat()})
        enqueue(session, "notify_provider", {
            "provider_org": report.provider_org,
            "payload": {"event": "report:user_notice_delayed", "report": report.public_id,
                        "hold_user_notice_until": _aware(hold).isoformat()}})
    return routing
