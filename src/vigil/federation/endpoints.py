"""HTTP routes of partner centres (the Centre's administrators: ``orgs:manage``). Thin: parse,
call one service function inside the request's unit of work, render."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from vigil.deps import OrgsManageKey, unit_of_work
from vigil.errors import ERROR_RESPONSES
from vigil.federation import repository, service
from vigil.federation.schemas import PartnerIn, PartnerOut, QuarantinedOut

router = APIRouter(prefix="/v1/partners", responses=ERROR_RESPONSES)


@router.get("", response_model=list[PartnerOut])
def list_partners(request: Request, actor: OrgsManageKey) -> list[PartnerOut]:
    """Every registered partner centre: its agreement, how far it was pulled, its last error."""
    with unit_of_work(request) as s:
        return [PartnerOut.of(p, n, head) for p, n, head in service.overview(s)]


@router.post("", response_model=PartnerOut, status_code=201)
def register(body: PartnerIn, request: Request, actor: OrgsManageKey) -> PartnerOut:
    """Register a partner centre whose organisation exists here (as a partner centre). Its
    import key is issued by this Centre, so it waits for a second party's approval."""
    with unit_of_work(request) as s:
        p = service.register(s, actor, body.name, url=body.url,
                             log_key=service.parse_log_key(body.log_key),
                             remote_list=body.remote_list, local_list=body.local_list,
                             origin_verification_counts=body.origin_verification_counts)
        return PartnerOut.of(p, 0, None)


@router.delete("/{name}", response_model=PartnerOut)
def remove(name: str, request: Request, actor: OrgsManageKey) -> PartnerOut:
    """Stop pulling from a partner (what it brought stays, with its provenance)."""
    with unit_of_work(request) as s:
        p = service.remove(s, actor, name)
        return PartnerOut.of(p, repository.imported_counts(s).get(p.id, 0), None)


@router.get("/{name}/quarantine", response_model=list[QuarantinedOut])
def quarantine(name: str, request: Request, actor: OrgsManageKey,
               after: int = Query(0, ge=0, le=2**62),
               limit: int = Query(100, ge=1, le=1000)) -> list[QuarantinedOut]:
    """A partner's records that were not imported (malformed, or in a refused answer)."""
    with unit_of_work(request) as s:
        p = repository.partner_named(s, name)
        return [QuarantinedOut.of(q) for q in repository.quarantined(s, p.id, limit, after)]
