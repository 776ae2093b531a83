"""Match feedback and quarantine.

A provider says whether a match was right. When providers of enough *different* organisations
(``VIGIL_QUARANTINE_FALSE_POSITIVE_ORGS``, default 2; one organisation alone cannot take an
indicator out) call an indicator's matches false, it is quarantined: it stops matching at once
(a withdrawal in the change feed), the log records it, and reviewers get an alert. A reviewer
then reinstates it or retracts it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accountability.models import Alert, MatchFeedback
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid
from vigil.indicators import service as indicators
from vigil.indicators.models import Indicator, ListChange
from vigil.orgs.access import Principal, Scope
from vigil.translog import repository as log

VERDICTS = ("true_positive", "false_positive")
QUARANTINED = "quarantined"


def quarantine(session: Session, ind: Indicator, kind: str, message: str,
               actor: Principal | None = None) -> None:
    if ind.status != indicators.ACTIVE:
        return
    ind.status = QUARANTINED
    leaf = {"event": "indicator:quarantined", "indicator": ind.id, "list": ind.hash_list.name,
            "signal_type": ind.signal_type,
            "commitment": indicators.commitment(ind.salt, ind.signal_type, ind.value),
            "status": QUARANTINED, "org": actor.organisation_id if actor else None,
            "reason": kind, "at": now().isoformat()}
    log.append(session, leaf)
    session.add(ListChange(list_id=ind.list_id, indicator_id=ind.id, action="withdraw", at=now()))
    session.add(Alert(at=now(), kind=kind, indicator_id=ind.id, message=message))
    record(session, actor, AuditAction.INDICATOR_QUARANTINED, subject=str(ind.id),
           details={"reason": kind})


def record_feedback(session: Session, actor: Principal, indicator_id: int, verdict: str,
                    reference: str | None, threshold_orgs: int) -> tuple[MatchFeedback, bool]:
    """Record a verdict; returns it and whether the indicator was quarantined by it."""
    actor.require(Scope.MATCH)
    if verdict not in VERDICTS:
        raise Invalid(f"verdict must be one of {', '.join(VERDICTS)}")
    ind = indicators.get_indicator(session, indicator_id, for_update=True)
    if ind.status not in (indicators.ACTIVE, QUARANTINED):
        raise Conflict(f"indicator {indicator_id} is {ind.status}; feedback is for active "
                       "indicators")
    fb = MatchFeedback(indicator_id=ind.id, organisation_id=actor.organisation_id,
                       api_key_id=actor.key_id, verdict=verdict,
                       reference=(reference or "").strip()[:200] or None, at=now())
    session.add(fb)
    session.flush()
    record(session, actor, AuditAction.MATCH_FEEDBACK, subject=str(ind.id),
           details={"verdict": verdict})
    since = ind.decided_at
    orgs = session.scalar(select(func.count(func.distinct(MatchFeedback.organisation_id))).where(
        MatchFeedback.indicator_id == ind.id, MatchFeedback.verdict == "false_positive",
        *([MatchFeedback.at >= since] if since else [])))
    if verdict == "false_positive" and ind.status == indicators.ACTIVE and (orgs or 0) >= threshold_orgs:
        quarantine(session, ind, "false_positives",
                   f"indicator {ind.id} quarantined: {orgs} organisations reported false "
                   "positives; review it, then reinstate or retract it", actor)
        return fb, True
    return fb, False


def reinstate(session: Session, actor: Principal, indicator_id: int, reason: str) -> Indicator:
    """A reviewer found the quarantined indicator right after all: it matches again."""
    actor.require(Scope.INDICATORS_REVIEW)
    if not reason.strip():
        raise Invalid("a reason is required to reinstate an indicator")
    ind = indicators.get_indicator(session, indicator_id, for_update=True)
    if ind.status != QUARANTINED:
        raise Conflict(f"indicator {ind.id} is {ind.status}, not quarantined")
    ind.status = indicators.ACTIVE
    ind.decided_by_org, ind.decided_by_key, ind.decided_at = actor.organisation_id, actor.key_id, now()
    log.append(session, indicators._leaf("indicator:reinstated", ind, actor))
    session.add(ListChange(list_id=ind.list_id, indicator_id=ind.id, action="add", at=now()))
    record(session, actor, AuditAction.INDICATOR_REINSTATED, subject=str(ind.id),
           details={"reason": reason.strip()[:500]})
    return ind
