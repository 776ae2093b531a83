"""HTTP routes of accountability: providers' match feedback, reinstating quarantined
indicators, and reviewers' alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from vigil.accountability import service
from vigil.accountability.models import Alert
from vigil.clock import now
from vigil.deps import DbId, principal_of, unit_of_work
from vigil.errors import NotFound
from vigil.orgs.access import Scope

router = APIRouter(prefix="/v1")


class FeedbackIn(BaseModel):
    indicator_id: int = Field(ge=1, le=2**62)
    verdict: str = Field(pattern="^(true_positive|false_positive)$")
    reference: str | None = Field(default=None, max_length=200,
                                  description="your own reference for the matched item")


@router.post("/match/feedback", status_code=201)
def feedback(body: FeedbackIn, request: Request,
             actor: principal_of(Scope.MATCH)) -> dict[str, Any]:  # type: ignore[valid-type]
    """Tell the Centre whether a match was right; false positives from several organisations
    quarantine the indicator."""
    state = request.app.state.vigil
    with unit_of_work(request) as s:
        fb, quarantined = service.record_feedback(
            s, actor, body.indicator_id, body.verdict, body.reference,
            state.settings.quarantine_false_positive_orgs)
        out = {"id": fb.id, "indicator_id": fb.indicator_id, "verdict": fb.verdict,
               "quarantined": quarantined}
    if quarantined:
        state.matcher.sync(state.read_session)
    return out


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


@router.post("/indicators/{indicator_id}/reinstate")
def reinstate(indicator_id: DbId, body: ReasonIn, request: Request,
              actor: principal_of(Scope.INDICATORS_REVIEW)) -> dict[str, Any]:  # type: ignore[valid-type]
    state = request.app.state.vigil
    with unit_of_work(request) as s:
        ind = service.reinstate(s, actor, indicator_id, body.reason)
        out = {"id": ind.id, "status": ind.status}
    state.matcher.sync(state.read_session)
    return out


@router.get("/alerts")
def alerts(request: Request, actor: principal_of(Scope.INDICATORS_REVIEW),  # type: ignore[valid-type]
           include_acknowledged: bool = False,
           limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with unit_of_work(request) as s:
        q = select(Alert).order_by(Alert.id.desc()).limit(limit)
        if not include_acknowledged:
            q = q.where(Alert.acknowledged_at.is_(None))
        return [{"id": a.id, "at": a.at, "kind": a.kind, "indicator_id": a.indicator_id,
                 "message": a.message, "acknowledged_at": a.acknowledged_at}
                for a in s.scalars(q)]


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: DbId, request: Request,
                actor: principal_of(Scope.INDICATORS_REVIEW)) -> dict[str, Any]:  # type: ignore[valid-type]
    with unit_of_work(request) as s:
        a = s.get(Alert, alert_id)
        if a is None:
            raise NotFound(f"no alert {alert_id}")
        a.acknowledged_at = a.acknowledged_at or now()
        return {"id": a.id, "acknowledged_at": a.acknowledged_at}
