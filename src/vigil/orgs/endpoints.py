"""The API of organisations, keys and staff accounts: the Centre's (``orgs:manage``), and a
second party's approvals (``orgs:approve``). The same service functions serve ``vigil org``,
``vigil key`` and ``vigil account``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from vigil.deps import MAX_DB_ID, DbId, OrgsApproveKey, OrgsManageKey, unit_of_work
from vigil.errors import ERROR_RESPONSES
from vigil.orgs import accounts, service, staff
from vigil.orgs.access import parse_kind, parse_scopes
from vigil.orgs.schemas import AccountOut, KeyIn, KeyOut, OrgIn, OrgOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.post("/orgs", response_model=OrgOut, status_code=201)
def create_org(body: OrgIn, request: Request, actor: OrgsManageKey) -> OrgOut:
    kind = parse_kind(body.kind)
    with unit_of_work(request) as s:
        org = service.create_organisation(s, actor, body.name, kind, body.member_state)
        return OrgOut.of(org)


#: An organisation's id in a query string.
OrgFilter = Annotated[int | None, Query(ge=1, le=MAX_DB_ID,
                                        description="Only this organisation's.")]


@router.get("/orgs", response_model=list[OrgOut])
def list_orgs(request: Request, actor: OrgsManageKey) -> list[OrgOut]:
    """The Centre: every organisation, by name."""
    with request.app.state.vigil.read_session() as s:
        return [OrgOut.of(o) for o in service.list_organisations(s)]


@router.get("/keys", response_model=list[KeyOut])
def list_keys(request: Request, actor: OrgsManageKey, org_id: OrgFilter = None) -> list[KeyOut]:
    """The Centre: every key (of one organisation), oldest first — never a secret."""
    with request.app.state.vigil.read_session() as s:
        return [KeyOut.of(k) for k in service.list_keys(s, org_id)]


@router.post("/orgs/{org_id}/approve", response_model=OrgOut)
def approve_org(org_id: DbId, request: Request, actor: OrgsApproveKey) -> OrgOut:
    """A second party (an approved partner centre, or an auditor) approves a new organisation
    that may review indicators; until then its keys cannot verify anything."""
    with unit_of_work(request) as s:
        return OrgOut.of(service.approve_organisation(s, actor, org_id))


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
    scopes = parse_scopes(body.scopes)
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


@router.post("/orgs/{org_id}/accounts", response_model=AccountOut, status_code=201)
def create_account(org_id: DbId, body: AccountIn, request: Request,
                   actor: OrgsManageKey) -> AccountOut:
    """A workspace account for a person of the organisation, with a generated password."""
    with unit_of_work(request) as s:
        made = accounts.create_account(s, actor, org_id, body.username, body.role,
                                       display_name=body.display_name, locale=body.locale)
        return AccountOut.of(made.account, made.password)


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(request: Request, actor: OrgsManageKey,
                  org_id: OrgFilter = None) -> list[AccountOut]:
    """The Centre: every workspace account (of one organisation), by username."""
    with request.app.state.vigil.read_session() as s:
        return [AccountOut.of(a) for a in staff.list_accounts(s, org_id)]


@router.post("/accounts/{account_id}/disable", response_model=AccountOut)
def disable_account(account_id: DbId, request: Request, actor: OrgsManageKey) -> AccountOut:
    """The account cannot sign in any more, and its open sessions end at once (409 if it is
    disabled already)."""
    with unit_of_work(request) as s:
        return AccountOut.of(staff.disable_account(s, actor, staff.get_account(s, account_id)))


@router.post("/accounts/{account_id}/enable", response_model=AccountOut)
def enable_account(account_id: DbId, request: Request, actor: OrgsManageKey) -> AccountOut:
    """A disabled account may sign in again (409 if it is not disabled, or its credential was
    revoked)."""
    with unit_of_work(request) as s:
        return AccountOut.of(staff.enable_account(s, actor, staff.get_account(s, account_id)))


@router.post("/accounts/{account_id}/reset-password", response_model=AccountOut)
def reset_password(account_id: DbId, request: Request, actor: OrgsManageKey) -> AccountOut:
    """A new generated password, in the answer once; the account's open sessions end."""
    with unit_of_work(request) as s:
        made = staff.reset_password(s, actor, staff.get_account(s, account_id))
        return AccountOut.of(made.account, made.password)


@router.post("/accounts/{account_id}/reset-second-factor", response_model=AccountOut)
def reset_second_factor(account_id: DbId, request: Request, actor: OrgsManageKey) -> AccountOut:
    """Forget the account's authenticator and recovery codes (a lost phone): a role that
    needs a second factor sets up a new one at the next sign-in. Its open sessions end."""
    with unit_of_work(request) as s:
        return AccountOut.of(staff.reset_second_factor(s, actor,
                                                          staff.get_account(s, account_id)))
