"""Human review at the Centre, and questions to the provider.

A reviewer decides on a report in the review queue (new material, solicitation, or hits on
unverified lists only):

* *material* — its hashes become pending indicators on the chosen list, which a reviewer of
  another organisation must verify; a report held for review (unverified match) is forwarded
  now;
* *not material* — a held report is closed as manifestly unfounded (never forwarded);
* *needs information* — a question goes to the provider, who answers it; the report stays in
  the queue.

Authorities can ask questions about the reports routed to them in the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotFound
from vigil.indicators import service as indicators
from vigil.matching.policy import Trust
from vigil.orgs.access import Principal, Scope
from vigil.reports import repository
from vigil.reports.forwarding import forward
from vigil.reports.lifecycle import ReportEvent, ReportStatus, transition
from vigil.reports.models import Question, Report, ReportFile, ReportHash
from vigil.reports.service import aad
from vigil.reports.storage import FileStore

DECISIONS = ("material", "not_material", "needs_information")
#: Signal types a "material" decision proposes as indicators.
PROPOSED_TYPES = ("pdq", "md5", "sha256", "sha1", "vpdq")


def queue(session: Session, actor: Principal, limit: int = 100) -> list[Report]:
    """Reports awaiting a decision: urgent first, then oldest first."""
    actor.require(Scope.REPORTS_REVIEW)
    return repository.review_queue(session, limit)


@dataclass
class ReviewedReport:
    """A report as a Centre reviewer sees it (files by their hashes and previews: reviewers
    never download an original)."""

    report: Report
    files: list[ReportFile]
    hashes: list[ReportHash]
    questions: list[Question]
    related: list[tuple[str, str]]
    details: dict[str, Any]


def open_report(session: Session, actor: Principal, public_id: str) -> ReviewedReport:
    """The API's ``GET /v1/review/{id}`` and the review page; the read is audited."""
    actor.require(Scope.REPORTS_REVIEW)
    report = repository.get_readable(session, actor, public_id)
    record(session, actor, AuditAction.REPORT_READ, subject=report.public_id)
    return ReviewedReport(report, repository.files(session, report),
                          repository.hashes(session, report),
                          repository.questions(session, report),
                          repository.related_readable(session, actor, report),
                          json.loads(report.details) if report.details else {})


def preview_source(session: Session, actor: Principal, public_id: str, file_id: int,
                   store: FileStore) -> bytes | None:
    """The bytes a reviewer's preview is made from (never sent as they are: the page reduces
    them); None when the file was deleted at the end of its retention period. Audited."""
    actor.require(Scope.REPORTS_REVIEW)
    report = repository.get_readable(session, actor, public_id)
    f = repository.file_of(session, report, file_id)
    record(session, actor, AuditAction.REPORT_FILE_PREVIEWED, subject=report.public_id,
           details={"file": f.id})
    if f.storage_key is None or f.nonce is None:
        return None
    return store.get(f.storage_key, f.nonce, aad(report.public_id, f.id), f.key_id)


def reviewable(report: Report) -> bool:
    return (report.assessment in repository.REVIEW_ASSESSMENTS
            and report.review_decision in (None, "needs_information")
            and report.status != ReportStatus.RETRACTED)


def decide(session: Session, actor: Principal, public_id: str, decision: str, reason: str,
           list_name: str = "known-material", label: str | None = None) -> tuple[Report, list[int]]:
    actor.require(Scope.REPORTS_REVIEW)
    if decision not in DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(DECISIONS)}")
    if not reason.strip():
        raise Invalid("a reason is required")
    # Locked: two reviewers deciding at once, or a decision racing the provider's retraction,
    # take turns, and the second sees what the first did.
    report = repository.get_readable(session, actor, public_id, for_update=True)
    if report.status == ReportStatus.RETRACTED:
        raise Conflict(f"report {public_id} was retracted by its provider")
    if report.assessment not in repository.REVIEW_ASSESSMENTS:
        raise Conflict(f"report {public_id} is {report.assessment or report.status}; only new "
                       "material and unverified matches are reviewed")
    if report.review_decision in ("material", "not_material"):
        raise Conflict(f"report {public_id} was already decided: {report.review_decision}")
    created: list[int] = []
    held = report.status == ReportStatus.AWAITING_REVIEW
    if decision == "material" and held and not any(f.storage_key for f in repository.files(session, report)):
        # Its hits are self-declared hashes nobody at the Centre has seen; with no file there is
        # nothing for the reviewer to confirm.
        raise Conflict("nothing to look at: this report carries no file to review. Ask the "
                       "provider (needs_information) to report it again with the file, or "
                       "decide not_material")
    if decision == "material":
        hl = indicators.get_list(session, list_name)
        if hl.trust != Trust.VERIFIED:
            raise Invalid(f"list {list_name!r} is a {hl.trust} list; material is proposed to a "
                          "verified list")
        hashes = [h for h in repository.hashes(session, report) if h.signal_type in PROPOSED_TYPES]
        if not hashes:
            raise Conflict("the report has no hashes to propose as indicators")
        # A hash already on the list (from another report) is not proposed twice.
        unique = dict.fromkeys((h.signal_type, h.value) for h in hashes)
        proposals = [indicators.Proposal(st, value, list_name, f"review of report {public_id}",
                                         label, f"report:{public_id}")
                     for st, value in unique if indicators.listed(session, hl, st, value) is None]
        if proposals:
            created = [i.id for i in indicators.propose(session, actor, proposals)]
    if decision == "needs_information":
        ask(session, actor, report, reason)
    report.review_decision, report.review_reason = decision, reason.strip()
    report.reviewed_by_org, report.reviewed_at = actor.organisation_id, now()
    record(session, actor, AuditAction.REPORT_REVIEWED, subject=public_id,
           details={"decision": decision, "indicators": len(created)})
    if held:
        if decision == "material":
            report.assessment_reason = ("matched only unverified indicators; a Centre reviewer "
                                        "confirmed it: forwarded")
            forward(session, report, actor)
        elif decision == "not_material":
            report.assessment_reason = f"a reviewer found it is not material: {reason.strip()}"
            transition(session, report, ReportEvent.FOUND_UNFOUNDED, actor)
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
    return repository.questions(session, repository.get_readable(session, actor, public_id))


def answer(session: Session, actor: Principal, public_id: str, question_id: int,
           text: str) -> Question:
    actor.require(Scope.REPORTS_SUBMIT)
    report = repository.get_own(session, actor, public_id)
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
