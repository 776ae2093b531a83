"""HTTP routes of hotline referral: the registry of partner hotlines (the Centre's
administrators), the referrals this instance made, a webhook partner's signed status updates,
and the receiving side — a partner's referral in, and its status."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from vigil.deps import OrgsManageKey, ReferralsSubmitKey, TakedownManageKey, unit_of_work
from vigil.errors import ERROR_RESPONSES
from vigil.takedown.referrals import hotlines, inbound, repository, service
from vigil.takedown.referrals.schemas import (
    HotlineIn,
    HotlineOut,
    InboundReferralIn,
    InboundReferralOut,
    ReferralOut,
    StatusUpdateOut,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

PublicId = Path(max_length=36, pattern=r"^[A-Za-z0-9-]+$")


@router.post("/hotlines", response_model=HotlineOut, status_code=201)
def add_hotline(body: HotlineIn, request: Request, actor: OrgsManageKey) -> HotlineOut:
    """Register the partner hotline of a country (the Centre only; one per country)."""
    with unit_of_work(request) as s:
        h = hotlines.add(s, actor, hotlines.HotlineIn(body.country, body.name, body.kind,
                                                      body.url, body.secret))
        return HotlineOut.model_validate(hotlines.as_json(h))


@router.get("/hotlines", response_model=list[HotlineOut])
def list_hotlines(request: Request, actor: OrgsManageKey) -> list[HotlineOut]:
    """The registry, by country (without secrets)."""
    with unit_of_work(request) as s:
        return [HotlineOut.model_validate(hotlines.as_json(h)) for h in hotlines.listing(s, actor)]


@router.delete("/hotlines/{country}", response_model=HotlineOut)
def remove_hotline(request: Request, actor: OrgsManageKey,
                   country: str = Path(min_length=2, max_length=2)) -> HotlineOut:
    """Remove a country's partner hotline: its referrals are no longer delivered or followed."""
    with unit_of_work(request) as s:
        return HotlineOut.model_validate(hotlines.as_json(hotlines.remove(s, actor, country)))


@router.get("/referrals", response_model=list[ReferralOut])
def list_referrals(request: Request, actor: TakedownManageKey,
                   status: str | None = Query(None, pattern="^[a-z_]{1,16}$"),
                   limit: int = Query(100, ge=1, le=1000)) -> list[ReferralOut]:
    """Referrals of URLs the caller may follow (the Centre: all), newest first, each with how
    its delivery goes while pending."""
    with unit_of_work(request) as s:
        rows = repository.referrals(s, actor, status, limit)
        jobs = repository.delivery_jobs(s, rows)
        return [ReferralOut.model_validate(service.as_json(r, jobs.get(r.job_id or 0)))
                for r in rows]


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
def get_referral(request: Request, actor: TakedownManageKey,
                 referral_id: str = PublicId) -> ReferralOut:
    with unit_of_work(request) as s:
        r = repository.referral(s, actor, referral_id)
        jobs = repository.delivery_jobs(s, [r])
        return ReferralOut.model_validate(service.as_json(r, jobs.get(r.job_id or 0)))


@router.post("/referrals/{referral_id}/status", response_model=StatusUpdateOut)
async def webhook_status(request: Request, referral_id: str = PublicId) -> StatusUpdateOut:
    """A webhook partner's status update for a referral it received: ``{"id": referral_id,
    "status": "received" | "assessed" | "removed" | "declined" | "closed", "detail": "..."}``,
    signed with the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``) and that hotline's secret. No key: the signature is the credential;
    it covers the body, so the body names the referral (``id``, required, equal to the path's).
    401 when it does not verify, 404 for a referral that did not go to a webhook partner, 413
    over 16 KiB, 422 for other JSON (a missing or different ``id`` included)."""
    body = await request.body()  # bounded by the app before it is read (16 KiB here)
    headers = dict(request.headers)

    def update() -> StatusUpdateOut:
        with unit_of_work(request) as s:
            r = service.webhook_update(s, referral_id, headers, body)
            return StatusUpdateOut(id=r.public_id, status=r.status)

    return await run_in_threadpool(update)


@router.post("/referrals/in", response_model=InboundReferralOut, status_code=201)
def receive_referral(body: InboundReferralIn, request: Request,
                     actor: ReferralsSubmitKey) -> InboundReferralOut:
    """A partner hotline refers a URL it classified illegal (its key: ``referrals:submit``).
    It becomes a URL report here (source ``referral``) for this Centre's analyst. The same
    reference sent again answers the referral already received (``created`` false)."""
    with unit_of_work(request) as s:
        row, created = inbound.receive(s, actor, inbound.InboundIn(
            body.reference, body.url, body.classification, body.classification_country or None,
            body.hosting_country or None))
        st = inbound.status(s, row)
        return InboundReferralOut(id=st.id, reference=st.reference, status=st.status,
                                  received_at=st.received_at, changed_at=st.changed_at,
                                  created=created)


@router.get("/referrals/in/{referral_id}", response_model=InboundReferralOut)
def inbound_status(request: Request, actor: ReferralsSubmitKey,
                   referral_id: str = PublicId) -> InboundReferralOut:
    """How a referral the caller's organisation sent goes here (its hotline polls this)."""
    with unit_of_work(request) as s:
        st = inbound.status_of(s, actor, referral_id)
        return InboundReferralOut(id=st.id, reference=st.reference, status=st.status,
                                  received_at=st.received_at, changed_at=st.changed_at)
