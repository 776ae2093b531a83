from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from vigil.deps import DbId, OrgsApproveKey, OrgsManageKey, unit_of_work
from vigil.errors import ERROR_RESPONSES, Invalid
from vigil.orgs import accounts, service
from vigil.orgs.access import OrgKind, Scope
from vigil.orgs.schemas import KeyIn, KeyOut, OrgIn, OrgOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.post("/orgs", response_model=OrgOut, status_code=201)
def create_org(body: OrgIn, request: Request, actor: OrgsManageKey) -> OrgOut:
    try:
        kind = OrgKind(body.kind)
    except ValueError:
        raise Invalid(f"unknown organisation kind {body.kind!r} (known: "
                      f"{', '.join(k.value for k in OrgKind)})") from None
    with unit_of_work(request) as s:
        org = service.create_organisation(s, actor, body.name, kind, body.member_state)
        return OrgOut(id=org.id, name=org.name, kind=org.kind, member_state=org.member_state,
                      approved=org.approved_at is not None)


@router.post("/orgs/{org_id}/approve", response_model=OrgOut)
def approve_org(org_id: DbId, request: Request, actor: OrgsApproveKey) -> OrgOut:
    """A second party (an approved partner centre, or an auditor) approves a new organisation
    that may review indicators; until then its keys cannot verify anything."""
    with unit_of_work(request) as s:
        org = service.approve_organisation(s, actor, org_id)
        return OrgOut(id=org.id, name=org.name, kind=org.kind, member_state=org.member_state,
                      approved=True)


@router.post("/keys/{key_id}/approve", response_model=KeyOut)
def approve_key(key_id: DbId, request: Request, actor: OrgsApproveKey) -> KeyOut:
    """A second party (an approved partner centre, or an auditor — not the key's organisation,
    not the Centre) confirms a key the Centre issued to an organisation with review or approve
    scopes; until then the key works without those scopes."""
    with unit_of_work(request) as s:
        key = service.approve_key(s, actor, key_id)
        return KeyOut.of(key)


@router.post("/orgs/{org_id}/keys", response_model=KeyOut, status_code=201)
def issue_key(org_id: DbId, body: KeyIn, request: Request, actor: OrgsManageKey) -> KeyOut:
    try:
        scopes = {Scope(s) for s in body.scopes}
    except ValueError as exc:
        raise Invalid(f"unknown scope: {exc}") from None
    with unit_of_work(request) as s:
        issued = service.issue_key(s, actor, org_id, body.holder, scopes)
        return KeyOut.of(issued.key, issued.token)


@router.post("/keys/{key_id}/revoke", response_model=KeyOut)
def revoke_key(key_id: DbId, request: Request, actor: OrgsManageKey) -> KeyOut:
    with unit_of_work(request) as s:
        key = service.revoke_key(s, actor, key_id)
        return KeyOut.of(key)


class AccountIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: str = Field(description="reviewer, analyst, officer, auditor or admin; bounded by the "
                                  "organisation's kind")
    display_name: str | None = Field(default=None, max_length=200)
    locale: str = "en"


class AccountOut(BaseModel):
    id: int
    username: str
    role: str
    organisation_id: int
    scopes: list[str]
    password: str | None = Field(default=None, description="Generated, shown once; never again.")


@router.post("/orgs/{org_id}/accounts", response_model=AccountOut, status_code=201)
def create_account(org_id: DbId, body: AccountIn, request: Request,
                   actor: OrgsManageKey) -> AccountOut:
    """A workspace account for a person of the organisation, with a generated password."""
    with unit_of_work(request) as s:
        made = accounts.create_account(s, actor, org_id, body.username, body.role,
                                       display_name=body.display_name, locale=body.locale)
        return AccountOut(id=made.account.id, username=made.account.username,
                          role=made.account.role, organisation_id=org_id,
                          scopes=sorted(s.value for s in accounts.principal_of(made.account).scopes),
                          password=made.password)
