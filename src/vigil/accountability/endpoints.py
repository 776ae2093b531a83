"""HTTP routes of accountability: providers' match feedback, reinstating quarantined
indicators, and reviewers' alerts."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from vigil.accountability import complaints, service
from vigil.accountability.schemas import (
    AlertAcknowledgedOut,
    AlertOut,
    ComplaintCountsOut,
    ComplaintFiledOut,
    ComplaintOut,
    ComplaintStatusOut,
    MatchFeedbackOut,
    ReinstatedOut,
)
from vigil.deps import DbId, IndicatorsReviewKey, MatchKey, StatsReadKey, client_address, unit_of_work
from vigil.errors import ERROR_RESPONSES

IndicatorId = Annotated[int, Field(ge=1, le=2**62)]

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match_id: str = Field(min_length=1, max_length=64, description=(
        "the match_id of a hit of POST /v1/match (valid 30 days, for your organisation "
        "only); a provider that matched locally asks POST /v1/match for one"))
    verdict: str = Field(pattern="^(true_positive|false_positive)$")
    reference: str | None = Field(default=None, max_length=200,
                                  description="your own reference for the matched item")


@router.post("/match/feedback", response_model=MatchFeedbackOut, status_code=201)
def feedback(body: FeedbackIn, request: Request, actor: MatchKey) -> MatchFeedbackOut:
    """Tell the Centre whether a match you received was right; false positives from several
    organisations quarantine the indicator."""
    state = request.app.state.vigil
    with unit_of_work(request) as s:
        fb, quarantined = service.record_feedback(
            s, actor, body.match_id, body.verdict, body.reference,
            state.settings.quarantine_false_positive_orgs, state.receipt_key,
            state.settings.quarantine_feedback_per_day)
        out = MatchFeedbackOut(id=fb.id, indicator_id=fb.indicator_id, verdict=fb.verdict,
                               quarantined=quarantined)
    if quarantined:
        state.matcher.sync(state.read_session)
    return out


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


@router.post("/indicators/{indicator_id}/reinstate", response_model=ReinstatedOut)
def reinstate(indicator_id: DbId, body: ReasonIn, request: Request,
              actor: IndicatorsReviewKey) -> ReinstatedOut:
    state = request.app.state.vigil
    with unit_of_work(request) as s:
        ind = service.reinstate(s, actor, indicator_id, body.reason)
        out = ReinstatedOut(id=ind.id, status=ind.status)
    state.matcher.sync(state.read_session)
    return out


@router.get("/alerts", response_model=list[AlertOut])
def alerts(request: Request, actor: IndicatorsReviewKey,
           include_acknowledged: bool = False,
           limit: int = Query(100, ge=1, le=1000)) -> list[AlertOut]:
    with unit_of_work(request) as s:
        return [AlertOut(id=a.id, at=a.at, kind=a.kind, indicator_id=a.indicator_id,
                         message=a.message, acknowledged_at=a.acknowledged_at)
                for a in service.alerts(s, actor, include_acknowledged=include_acknowledged,
                                        limit=limit)]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertAcknowledgedOut)
def acknowledge(alert_id: DbId, request: Request, actor: IndicatorsReviewKey) -> AlertAcknowledgedOut:
    with unit_of_work(request) as s:
        a = service.acknowledge_alert(s, actor, alert_id)
        return AlertAcknowledgedOut(id=a.id, acknowledged_at=a.acknowledged_at)


# -- complaints --------------------------------------------------------------------------------

class PublicComplaintIn(BaseModel):
    provider: str = Field(min_length=1, max_length=200, description="the service that removed it")
    reference: str = Field(min_length=1, max_length=200, description="its reference for the removal")
    statement: str = Field(min_length=1, max_length=4000)


class ProviderComplaintIn(BaseModel):
    reference: str | None = Field(default=None, max_length=200)
    statement: str = Field(min_length=1, max_length=4000)
    indicator_ids: list[IndicatorId] = Field(min_length=1, max_length=100)


class ComplaintKey(BaseModel):
    id: str = Field(min_length=1, max_length=36)
    token: str = Field(min_length=1, max_length=100)


class AssessmentIn(BaseModel):
    decision: str = Field(pattern="^(upheld|rejected)$")
    reason: str = Field(min_length=1, max_length=4000)
    indicator_ids: list[IndicatorId] = Field(default_factory=list, max_length=100)


def _complaint_out(c: Any) -> ComplaintOut:
    return ComplaintOut(id=c.public_id, via=c.via, provider=c.provider_name, reference=c.reference,
                        statement=c.statement, indicator_ids=json.loads(c.indicator_ids),
                        status=c.status, created_at=c.created_at, decided_at=c.decided_at)


@router.post("/public/complaints", response_model=ComplaintFiledOut, status_code=201)
def public_complaint(body: PublicComplaintIn, request: Request) -> ComplaintFiledOut:
    """A user of a service complains directly (no account; limited per address). The token
    follows the complaint and is shown only here."""
    request.app.state.vigil.public_reports.check(client_address(request), "public submissions")
    with unit_of_work(request) as s:
        c, token = complaints.file(s, statement=body.statement, via="direct",
                                   provider_name=body.provider, reference=body.reference)
        return ComplaintFiledOut(id=c.public_id, token=token, status=c.status)


@router.post("/public/complaints/status", response_model=ComplaintStatusOut)
def public_complaint_status(body: ComplaintKey, request: Request) -> ComplaintStatusOut:
    request.app.state.vigil.case_access.check(client_address(request), "look-ups")
    with unit_of_work(request) as s:
        c = complaints.status_for_complainant(s, body.id, body.token)
        return ComplaintStatusOut(id=c.public_id, status=c.status, decided_at=c.decided_at)


@router.post("/complaints", response_model=ComplaintFiledOut, status_code=201)
def provider_complaint(body: ProviderComplaintIn, request: Request, actor: MatchKey) -> ComplaintFiledOut:
    """A service passes on its user's complaint, naming the indicator(s) that matched."""
    with unit_of_work(request) as s:
        c, token = complaints.file(s, statement=body.statement, via="provider", provider=actor,
                                   reference=body.reference, indicator_ids=body.indicator_ids)
        return ComplaintFiledOut(id=c.public_id, token=token, status=c.status)


@router.get("/complaints", response_model=list[ComplaintOut])
def list_complaints(request: Request, actor: IndicatorsReviewKey,
                    status: str | None = Query(None, pattern="^(open|disputed|upheld|rejected)$"),
                    limit: int = Query(100, ge=1, le=1000)) -> list[ComplaintOut]:
    with unit_of_work(request) as s:
        return [_complaint_out(c) for c in complaints.listed(s, actor, status, limit)]


@router.post("/complaints/{complaint_id}/assessment", response_model=ComplaintOut)
def assess_complaint(complaint_id: str, body: AssessmentIn, request: Request,
                     actor: IndicatorsReviewKey) -> ComplaintOut:
    state = request.app.state.vigil
    with unit_of_work(request) as s:
        out = _complaint_out(complaints.assess(s, actor, complaint_id, body.decision, body.reason,
                                               body.indicator_ids))
    state.matcher.sync(state.read_session)
    return out


@router.get("/complaints/stats", response_model=ComplaintCountsOut)
def complaint_stats(request: Request, actor: StatsReadKey) -> ComplaintCountsOut:
    with unit_of_work(request) as s:
        return ComplaintCountsOut(complaints.counts(s))
