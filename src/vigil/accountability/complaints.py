"""Complaints about wrongful removal.

A complainant gets a complaint id and a token (shown once) to follow the outcome. Two reviewers
re-assess the indicator(s) involved, each once; if they agree, that is the outcome; if not, a
third decides. Upheld: every linked indicator still listed is retracted (a log entry; providers
see the withdrawal in the change feed within a second), and the complainant sees the outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accountability.models import Complaint, ComplaintAssessment
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotAuthenticated, NotFound
from vigil.indicators import service as indicators
from vigil.jobs.queue import enqueue
from vigil.orgs.access import Principal, Scope

DECISIONS = ("upheld", "rejected")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def file(session: Session, *, statement: str, via: str, provider: Principal | None = None,
         provider_name: str | None = None, reference: str | None = None,
         indicator_ids: list[int] | None = None) -> tuple[Complaint, str]:
    if not statement.strip():
        raise Invalid("please say what was removed and why it should not have been")
    if via == "direct" and not (provider_name and reference):
        raise Invalid("name the service and its reference for the removal (from its notice)")
    token = secrets.token_urlsafe(24)
    c = Complaint(public_id=str(uuid.uuid4()), token_hash=_digest(token), via=via,
                  provider_name=(provider.organisation_name if provider else provider_name),
                  provider_org=provider.organisation_id if provider else None,
                  reference=reference, statement=statement.strip(),
                  indicator_ids=json.dumps(sorted(set(indicator_ids or []))), status="open",
                  created_at=now())
    session.add(c)
    session.flush()
    record(session, provider, AuditAction.COMPLAINT_FILED, subject=c.public_id,
           details={"via": via})
    return c, token


def get(session: Session, public_id: str) -> Complaint:
    c = session.scalar(select(Complaint).where(Complaint.public_id == public_id).with_for_update())
    if c is None:
        raise NotFound(f"no complaint {public_id}")
    return c


def status_for_complainant(session: Session, public_id: str, token: str) -> Complaint:
    c = session.scalar(select(Complaint).where(Complaint.public_id == public_id))
    if c is None or not hmac.compare_digest(c.token_hash, _digest(token)):
        raise NotAuthenticated("unknown complaint or wrong token")
    return c


def assess(session: Session, actor: Principal, public_id: str, decision: str, reason: str,
           indicator_ids: list[int] | None = None) -> Complaint:
    actor.require(Scope.INDICATORS_REVIEW)
    if decision not in DECISIONS:
        raise Invalid(f"decision must be one of {', '.join(DECISIONS)}")
    if not reason.strip():
        raise Invalid("a reason is required")
    c = get(session, public_id)
    if c.status in DECISIONS:
        raise Conflict(f"complaint {public_id} was decided already: {c.status}")
    done = list(session.scalars(select(ComplaintAssessment).where(
        ComplaintAssessment.complaint_id == c.id)))
    if any(a.api_key_id == actor.key_id for a in done):
        raise Conflict("you assessed this complaint already; another reviewer must")
    if indicator_ids:
        for ind_id in indicator_ids:
            indicators.get_indicator(session, ind_id)  # must exist
        c.indicator_ids = json.dumps(sorted(set(json.loads(c.indicator_ids)) | set(indicator_ids)))
    a = ComplaintAssessment(complaint_id=c.id, organisation_id=actor.organisation_id,
                            api_key_id=actor.key_id, decision=decision, reason=reason.strip(),
                            at=now())
    session.add(a)
    done.append(a)
    record(session, actor, AuditAction.COMPLAINT_ASSESSED, subject=public_id,
           details={"decision": decision})
    votes = Counter(x.decision for x in done)
    outcome = None
    if len(done) == 2:
        outcome = decision if votes[decision] == 2 else None
        c.status = outcome or "disputed"
    elif len(done) >= 3:
        outcome = votes.most_common(1)[0][0]
    if outcome is not None:
        _decide(session, actor, c, outcome)
    return c


def _decide(session: Session, actor: Principal, c: Complaint, outcome: str) -> None:
    c.status, c.decided_at = outcome, now()
    retracted = 0
    if outcome == "upheld":
        ids = json.loads(c.indicator_ids)
        if not ids:
            raise Conflict("an upheld complaint needs the indicator(s) involved (indicator_ids)")
        for ind_id in ids:
            ind = indicators.get_indicator(session, ind_id)
            if ind.status in indicators.LISTED:
                indicators.retract(session, actor, ind_id, f"complaint {c.public_id} upheld")
                retracted += 1
    record(session, actor, AuditAction.COMPLAINT_DECIDED, subject=c.public_id,
           details={"outcome": outcome, "retracted": retracted})
    if outcome == "upheld" and retracted:
        # Providers hear of it by webhook as well as in the change feed (after the commit).
        enqueue(session, "notify_providers", {"event": "complaint:upheld",
                                              "complaint": c.public_id,
                                              "indicators": json.loads(c.indicator_ids)})


def listed(session: Session, actor: Principal, status: str | None = None,
           limit: int = 100) -> list[Complaint]:
    """Complaints for reviewers, oldest first."""
    actor.require(Scope.INDICATORS_REVIEW)
    q = select(Complaint).order_by(Complaint.id).limit(limit)
    if status:
        q = q.where(Complaint.status == status)
    return list(session.scalars(q))


def counts(session: Session) -> dict[str, int]:
    return {status: n for status, n in session.execute(
        select(Complaint.status, func.count()).group_by(Complaint.status))}
