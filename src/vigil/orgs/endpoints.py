from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from vigil.deps import DbId, principal_of, unit_of_work
from vigil.errors import Invalid
from vigil.orgs import service
from vigil.orgs.access import OrgKind, Scope
from vigil.orgs.schemas import KeyIn, KeyOut, OrgIn, OrgOut

router = APIRouter(prefix="/v1")


@router.post("/orgs", response_model=OrgOut, status_code=201)
def create_org(body: OrgIn, request: Request, actor: principal_of(Scope.ORGS_MANAGE)) -> Any:  # type: ignore[valid-type]
    try:
        kind = OrgKind(body.kind)
    except ValueError:
        raise Invalid(f"unknown organisation kind {body.kind!r} (known: "
                      f"{', '.join(k.value for k in OrgKind)})") from None
    with unit_of_work(request) as s:
        org = service.create_organisation(s, actor, body.name, kind, body.member_state)
        return OrgOut(id=org.id, name=org.name, kind=org.kind, member_state=org.member_state)


@router.post("/orgs/{org_id}/keys", response_model=KeyOut, status_code=201)
def issue_key(org_id: DbId, body: KeyIn, request: Request,
              actor: principal_of(Scope.ORGS_MANAGE)) -> Any:  # type: ignore[valid-type]
    try:
        scopes = {Scope(s) for s in body.scopes}
    except ValueError as exc:
        raise Invalid(f"unknown scope: {exc}") from None
    with unit_of_work(request) as s:
        issued = service.issue_key(s, actor, org_id, body.holder, scopes)
        return KeyOut(id=issued.key.id, organisation_id=org_id, holder=issued.key.holder,
                      scopes=issued.key.scopes.split(), token=issued.token)


@router.post("/keys/{key_id}/revoke", response_model=KeyOut)
def revoke_key(key_id: DbId, request: Request, actor: principal_of(Scope.ORGS_MANAGE)) -> Any:  # type: ignore[valid-type]
    with unit_of_work(request) as s:
        key = service.revoke_key(s, actor, key_id)
        return KeyOut(id=key.id, organisation_id=key.organisation_id, holder=key.holder,
                      scopes=key.scopes.split(), revoked=True)
