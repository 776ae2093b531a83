"""Match feedback and quarantine.

A provider says whether a match was right. When providers of enough *different* organisations
(``VIGIL_QUARANTINE_FALSE_POSITIVE_ORGS``, default 2; one organisation alone cannot take an
indicator out) call an indicator's matches false, it is quarantined: it stops matching at once
(a withdrawal in the change feed), the log records it, and reviewers get an alert. A reviewer
then reinstates it or retracts it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accountability.models import Alert, MatchFeedback
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Invalid, NotFound
from vigil.indicators import receipts
from vigil.indicators import service as indicators
from vigil.indicators.lifecycle import IndicatorEvent, IndicatorStatus, transition
from vigil.indicators.models import Indicator
from vigil.orgs.access import Principal, Scope

VERDICTS = ("true_positive", "false_positive")


def quarantine(session: Session, ind: Indicator, kind: str, message: str,
               actor: Principal | None = None) -> bool:
    """Take an active indicator out of matching until a reviewer decides, and alert reviewers.
    ``kind``: why (``false_positives``, ``flood``). Returns False if it was not active."""
    if ind.status != IndicatorStatus.ACTIVE:
        return False
    transition(session, ind, IndicatorEvent.QUARANTINED, actor, reason=kind,
               log_extra={"reason": kind})
    session.add(Alert(at=now(), kind=kind, indicator_id=ind.id, message=message))
    return True


def _within_budget(session: Session, org_id: int, indicator_id: int, budget: int) -> bool:
    """Whether ``org_id``'s false positive on the indicator is among the first ``budget``
    different indicators it called false in the last day. A provider holds the lists, so it
    can get a receipt for any listed hash by matching it: receipts alone cannot stop two
    organisations from quarantining a whole list; the budget does."""
    firsts = session.execute(
        select(MatchFeedback.indicator_id, func.min(MatchFeedback.id).label("first"))
        .where(MatchFeedback.organisation_id == org_id,
               MatchFeedback.verdict == "false_positive",
               MatchFeedback.at >= now() - timedelta(days=1))
        .group_by(MatchFeedback.indicator_id)
        .order_by("first").limit(budget)).all()
    return any(i == indicator_id for i, _ in firsts)


def record_feedback(session: Session, actor: Principal, match_id: str, verdict: str,
                    reference: str | None, threshold_orgs: int,
                    key: bytes, daily_budget: int = 20) -> tuple[MatchFeedback, bool]:
    """Record a verdict on a match the caller received (its ``match_id``, from ``POST
    /v1/match``); returns it and whether the indicator was quarantined by it. A receipt that
    is not the caller's, or too old, is "no such match" — one answer whatever the indicator's
    status, so feedback tells nothing about indicators.

    An organisation's false positives count towards quarantine for at most ``daily_budget``
    different indicators a day (``VIGIL_QUARANTINE_FEEDBACK_PER_DAY``); beyond that they are
    kept, reviewers get one alert a day about the organisation, and reviewers decide."""
    actor.require(Scope.MATCH)
    if verdict not in VERDICTS:
        raise Invalid(f"verdict must be one of {', '.join(VERDICTS)}")
    indicator_id = receipts.indicator_of(key, actor.organisation_id, match_id)
    ind = session.get(Indicator, indicator_id, with_for_update=True) if indicator_id else None
    if ind is None:
        raise NotFound(f"no such match (a match_id from POST /v1/match of the last "
                       f"{receipts.VALID_DAYS} days)")
    fb = MatchFeedback(indicator_id=ind.id, organisation_id=actor.organisation_id,
                       api_key_id=actor.key_id, verdict=verdict,
                       reference=(reference or "").strip()[:200] or None, at=now())
    session.add(fb)
    session.flush()
    record(session, actor, AuditAction.MATCH_FEEDBACK, subject=str(ind.id),
           details={"verdict": verdict})
    since = ind.decided_at
    if verdict == "false_positive" and not _within_budget(session, actor.organisation_id,
                                                          ind.id, daily_budget):
        _alert_volume(session, actor)
        return fb, False
    voters = session.scalars(select(func.distinct(MatchFeedback.organisation_id)).where(
        MatchFeedback.indicator_id == ind.id, MatchFeedback.verdict == "false_positive",
        *([MatchFeedback.at >= since] if since else []))).all()
    orgs = sum(1 for org in voters if _within_budget(session, org, ind.id, daily_budget))
    if verdict == "false_positive" and ind.status == IndicatorStatus.ACTIVE and (orgs or 0) >= threshold_orgs:
        quarantine(session, ind, "false_positives",
                   f"indicator {ind.id} quarantined: {orgs} organisations reported false "
                   "positives; review it, then reinstate or retract it", actor)
        return fb, True
    return fb, False


def _alert_volume(session: Session, actor: Principal) -> None:
    message = (f"{actor.organisation_name} called more indicators false today than its "
               "feedback may quarantine; its false positives wait for a reviewer")
    if session.scalar(select(Alert.id).where(Alert.kind == "feedback_volume",
                                             Alert.message == message,
                                             Alert.at >= now() - timedelta(days=1))) is None:
        session.add(Alert(at=now(), kind="feedback_volume", indicator_id=None, message=message))


def reinstate(session: Session, actor: Principal, indicator_id: int, reason: str) -> Indicator:
    """A reviewer found the quarantined indicator right after all: it matches again."""
    actor.require(Scope.INDICATORS_REVIEW)
    return transition(session, indicators.get_indicator(session, indicator_id, for_update=True),
                      IndicatorEvent.REINSTATED, actor, reason=reason)


def alerts(session: Session, actor: Principal, *, include_acknowledged: bool = False,
           limit: int = 100) -> list[Alert]:
    """Alerts for reviewers, newest first."""
    actor.require(Scope.INDICATORS_REVIEW)
    q = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if not include_acknowledged:
        q = q.where(Alert.acknowledged_at.is_(None))
    return list(session.scalars(q))


def acknowledge_alert(session: Session, actor: Principal, alert_id: int) -> Alert:
    actor.require(Scope.INDICATORS_REVIEW)
    a = session.get(Alert, alert_id)
    if a is None:
        raise NotFound(f"no alert {alert_id}")
    a.acknowledged_at = a.acknowledged_at or now()
    return a
