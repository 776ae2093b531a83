"""A report's lifecycle: its statuses, the one table of allowed changes, and the one function
that makes a change (status, timestamps, audit record, in the caller's transaction).

::

    (new) ──opened──► open ──submitted──► submitted ──forwarded──────────────► forwarded
      └────submitted──────────────────────►    │ ──held_for_review──► awaiting_review
                                               │                          │  ├─forwarded─► forwarded
                                               └──found_unfounded──►  manifestly_unfounded ◄─┘
    any status but retracted ──retracted──► retracted

*awaiting_review*: the assessment found hits on unverified lists only (victims' own hashes,
which nobody at the Centre has seen). A match is a reason for review, never for action, so the
report waits in the Centre's review queue — placed by its urgency — and is forwarded only when
a reviewer confirms; a reviewer who finds it is not material closes it as manifestly unfounded.

``Report.status`` has no setter: nothing outside this module can assign it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.lifecycle import TransitionTable
from vigil.orgs.access import Principal
from vigil.reports.models import Report


class ReportStatus(StrEnum):
    #: Files may still be added (``POST /v1/reports/{id}/finish`` ends it).
    OPEN = "open"
    #: Complete, waiting for the assessment (``vigil worker``).
    SUBMITTED = "submitted"
    #: Its only hits are unverified: held for a Centre reviewer before any forwarding.
    AWAITING_REVIEW = "awaiting_review"
    #: Handed to Europol and the member states likely to have jurisdiction.
    FORWARDED = "forwarded"
    UNFOUNDED = "manifestly_unfounded"
    RETRACTED = "retracted"


class Assessment(StrEnum):
    """What the assessment found (``Report.assessment``)."""

    #: A verified indicator matched.
    KNOWN_MATERIAL = "known_material"
    #: Only unverified indicators matched (victim-submitted): a reviewer decides.
    UNVERIFIED_MATCH = "unverified_match"
    #: Nothing matched: forwarded, and a reviewer looks for new indicators.
    NEW_MATERIAL = "new_material"
    SOLICITATION = "solicitation"
    UNFOUNDED = "manifestly_unfounded"


class ReportEvent(StrEnum):
    OPENED = "opened"
    SUBMITTED = "submitted"
    HELD_FOR_REVIEW = "held_for_review"
    FORWARDED = "forwarded"
    FOUND_UNFOUNDED = "found_unfounded"
    RETRACTED = "retracted"


@dataclass(frozen=True)
class Transition:
    event: ReportEvent
    source: ReportStatus | None
    target: ReportStatus
    audit: AuditAction


_S, _E, _A = ReportStatus, ReportEvent, AuditAction
TRANSITIONS: TransitionTable[Transition] = TransitionTable((
    Transition(_E.OPENED, None, _S.OPEN, _A.REPORT_OPENED),
    Transition(_E.SUBMITTED, None, _S.SUBMITTED, _A.REPORT_SUBMITTED),
    Transition(_E.SUBMITTED, _S.OPEN, _S.SUBMITTED, _A.REPORT_SUBMITTED),
    Transition(_E.FORWARDED, _S.SUBMITTED, _S.FORWARDED, _A.REPORT_FORWARDED),
    Transition(_E.HELD_FOR_REVIEW, _S.SUBMITTED, _S.AWAITING_REVIEW, _A.REPORT_HELD_FOR_REVIEW),
    Transition(_E.FORWARDED, _S.AWAITING_REVIEW, _S.FORWARDED, _A.REPORT_FORWARDED),
    Transition(_E.FOUND_UNFOUNDED, _S.SUBMITTED, _S.UNFOUNDED, _A.REPORT_UNFOUNDED),
    Transition(_E.FOUND_UNFOUNDED, _S.AWAITING_REVIEW, _S.UNFOUNDED, _A.REPORT_UNFOUNDED),
    *(Transition(_E.RETRACTED, s, _S.RETRACTED, _A.REPORT_RETRACTED)
      for s in ReportStatus if s is not ReportStatus.RETRACTED),
))

#: Statuses after which the provider's ``finish`` is a harmless repeat.
FINISHED = frozenset({ReportStatus.SUBMITTED, ReportStatus.AWAITING_REVIEW,
                      ReportStatus.FORWARDED, ReportStatus.UNFOUNDED})


def transition(session: Session, report: Report, event: ReportEvent, actor: Principal | None,
               *, details: dict[str, object] | None = None, new: bool = False) -> Report:
    """Perform ``event`` (raises :class:`~vigil.errors.Conflict` when the table does not allow
    it from the report's status); records the row's audit event in the same transaction."""
    source = None if new else ReportStatus(report.status)
    row = TRANSITIONS.require(event, source, f"report {report.public_id}")
    t = now()
    report._status = row.target.value
    if row.target is ReportStatus.SUBMITTED:
        report.submitted_at = t
    elif row.target is ReportStatus.FORWARDED:
        report.forwarded_at = t
    elif row.target is ReportStatus.RETRACTED:
        report.retracted_at = t
    if new:
        session.add(report)
        session.flush()
    record(session, actor, row.audit, subject=report.public_id, details=details)
    return report
